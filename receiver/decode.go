package receiver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// alertDecoder reads Alertmanager's postable alerts token by token into
// the fields ingest uses. Decoding by reflection into maps was most of an
// ingest request's CPU and garbage; here label and annotation sets come
// from a cache of recent ones (a re-posted alert costs no new map), names
// are interned per request, and unknown members are skipped unbuilt.
//
// It reads what encoding/json (and so Alertmanager) reads: member names
// match case-insensitively, a repeated member is read again over the
// first, null leaves a string or time as it is. Invalid UTF-8 is refused
// with where it is, rather than silently replaced.
type alertDecoder struct {
	d     *jsontext.Decoder
	sets  *interned
	names map[string]string
	buf   []byte // an unquoted value
	pairs []pair // the object being read
	arena []byte // its values
}

// interned are the label and annotation sets ingest has seen recently.
type interned struct{ labels, annotations mapCache }

func newAlertDecoder(r io.Reader, sets *interned) *alertDecoder {
	return &alertDecoder{
		d:     jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true)),
		sets:  sets,
		names: make(map[string]string, 16),
	}
}

// top reads a whole body of API v2: an array of alerts and nothing after
// it (null, or trailing data, is refused as Alertmanager's API does).
func (ad *alertDecoder) top() ([]postable, error) {
	if ad.d.PeekKind() == 'n' {
		return nil, errors.New("the body: want an array of alerts, got null")
	}
	ps, err := ad.alerts()
	if err != nil {
		return nil, err
	}
	return ps, ad.end()
}

// topWebhook reads a whole body of the webhook: one payload and nothing
// after it.
func (ad *alertDecoder) topWebhook() (string, []postable, error) {
	if ad.d.PeekKind() == 'n' {
		return "", nil, errors.New("the body: want a webhook payload object, got null")
	}
	version, ps, err := ad.webhook()
	if err != nil {
		return "", nil, err
	}
	return version, ps, ad.end()
}

// end makes sure nothing but white space follows the value just read.
func (ad *alertDecoder) end() error {
	if _, err := ad.d.ReadToken(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("trailing data after the value, at byte %d", ad.d.InputOffset())
	}
	return nil
}

// alerts reads an array of alerts; null is none.
func (ad *alertDecoder) alerts() ([]postable, error) {
	if ok, err := ad.open('[', "an array of alerts"); !ok || err != nil {
		return nil, err
	}
	var out []postable
	for ad.d.PeekKind() != ']' {
		var p postable
		if err := ad.alert(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, ad.close()
}

func (ad *alertDecoder) alert(p *postable) error {
	if ok, err := ad.open('{', "an alert object"); !ok || err != nil {
		return err
	}
	return ad.members(func(name []byte) error {
		switch {
		case is(name, "labels"):
			c, err := ad.stringMap(p.Labels, &ad.sets.labels)
			p.Labels, p.fp = c.m, c.fp
			return err
		case is(name, "annotations"):
			c, err := ad.stringMap(p.Annotations, &ad.sets.annotations)
			p.Annotations = c.m
			return err
		case is(name, "startsAt"):
			return ad.time(&p.StartsAt)
		case is(name, "endsAt"):
			return ad.time(&p.EndsAt)
		case is(name, "status"):
			return ad.string(&p.Status)
		case is(name, "generatorURL"):
			return ad.string(&p.GeneratorURL)
		}
		return ad.d.SkipValue()
	})
}

// webhook reads Alertmanager's webhook payload: its version and alerts;
// every other member is skipped.
func (ad *alertDecoder) webhook() (version string, alerts []postable, err error) {
	if ok, err := ad.open('{', "a webhook payload object"); !ok || err != nil {
		return "", nil, err
	}
	err = ad.members(func(name []byte) (err error) {
		switch {
		case is(name, "version"):
			return ad.string(&version)
		case is(name, "alerts"):
			alerts, err = ad.alerts()
			return err
		}
		return ad.d.SkipValue()
	})
	return version, alerts, err
}

// members calls member for each member of the object just opened, with
// its name, and reads the object's end.
func (ad *alertDecoder) members(member func(name []byte) error) error {
	for ad.d.PeekKind() != '}' {
		name, err := ad.raw('"', "a member name")
		if err != nil {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
	}
	return ad.close()
}

// stringMap reads an object of strings into the cached map of its set.
// A map already read (a repeated member) is added to, as encoding/json
// does, into a new set: cached maps are shared. Null empties it.
func (ad *alertDecoder) stringMap(prev map[string]string, cache *mapCache) (cachedMap, error) {
	if ok, err := ad.open('{', "an object of strings"); !ok || err != nil {
		return cachedMap{}, err
	}
	ad.pairs, ad.arena = ad.pairs[:0], ad.arena[:0]
	for k, v := range prev {
		ad.pairs = append(ad.pairs, ad.pair(k, []byte(v)))
	}
	err := ad.members(func(name []byte) error {
		n, ok := ad.names[string(name)]
		if !ok {
			n = string(name)
			ad.names[n] = n
		}
		if ad.d.PeekKind() == 'n' {
			ad.pairs = append(ad.pairs, ad.pair(n, nil)) // "", as encoding/json reads it
			return ad.d.SkipValue()
		}
		v, err := ad.raw('"', "a string")
		ad.pairs = append(ad.pairs, ad.pair(n, v))
		return err
	})
	if err != nil {
		return cachedMap{}, err
	}
	return cache.get(normalizePairs(ad.pairs), ad.arena), nil
}

func (ad *alertDecoder) pair(name string, value []byte) pair {
	start := len(ad.arena)
	ad.arena = append(ad.arena, value...)
	return pair{name, start, len(ad.arena)}
}

// string reads a string into *s; null leaves it as it is.
func (ad *alertDecoder) string(s *string) error {
	if ad.d.PeekKind() == 'n' {
		return ad.d.SkipValue()
	}
	b, err := ad.raw('"', "a string")
	if err == nil {
		*s = string(b)
	}
	return err
}

// time reads an RFC 3339 time into *t, as strictly as time.Time's
// UnmarshalJSON; null leaves it as it is.
func (ad *alertDecoder) time(t *time.Time) error {
	if ad.d.PeekKind() == 'n' {
		return ad.d.SkipValue()
	}
	ptr := ad.d.StackPointer()
	b, err := ad.raw('"', "a time")
	if err != nil {
		return err
	}
	if err := t.UnmarshalText(b); err != nil {
		return fmt.Errorf("%s: %w", ptr, err)
	}
	return nil
}

// raw reads a value of kind and returns it unquoted; the bytes are valid
// until the next read.
func (ad *alertDecoder) raw(kind jsontext.Kind, want string) ([]byte, error) {
	if k := ad.d.PeekKind(); k != kind {
		return nil, ad.mismatch(k, want)
	}
	v, err := ad.d.ReadValue()
	if err != nil {
		return nil, err
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return v[1 : len(v)-1], nil
	}
	ad.buf, err = jsontext.AppendUnquote(ad.buf[:0], v)
	return ad.buf, err
}

// open reads the start of an array or object; false (and no error) for
// null.
func (ad *alertDecoder) open(kind jsontext.Kind, want string) (bool, error) {
	switch k := ad.d.PeekKind(); k {
	case kind:
		_, err := ad.d.ReadToken()
		return err == nil, err
	case 'n':
		return false, ad.d.SkipValue()
	default:
		return false, ad.mismatch(k, want)
	}
}

func (ad *alertDecoder) close() error {
	_, err := ad.d.ReadToken()
	return err
}

// mismatch names where the value is and what was expected; a syntax error
// or a read error (a body over the size limit) is returned as it is.
func (ad *alertDecoder) mismatch(got jsontext.Kind, want string) error {
	if !strings.ContainsRune(`n"tf0{[`, rune(got)) {
		// The end of the input, or of an object or array, or no JSON at
		// all: reading on says which, with where.
		if _, err := ad.d.ReadToken(); err != nil {
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	where := string(ad.d.StackPointer())
	if where == "" {
		where = "the body"
	}
	return fmt.Errorf("%s: want %s, got %s", where, want, kindName(got))
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "the end"
}

// is matches a member name as encoding/json does: exactly or, failing
// that, ignoring case.
func is(name []byte, field string) bool {
	return string(name) == field || bytes.EqualFold(name, []byte(field))
}
