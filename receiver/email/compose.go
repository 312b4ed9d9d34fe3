package email

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"maps"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/receiver/message"
)

// header is one header field, kept in order: readers show the first ones.
type header struct{ name, value string }

// is matches header names as mail readers do, regardless of case.
func (h header) is(o header) bool {
	return textproto.CanonicalMIMEHeaderKey(h.name) == textproto.CanonicalMIMEHeaderKey(o.name)
}

// renderHeaders executes the configured header templates, in name order
// so the message is the same from one delivery to the next.
func (n *Notifier) renderHeaders(m *message.Message) ([]header, error) {
	var hs []header
	for _, name := range slices.Sorted(maps.Keys(n.cfg.Headers)) {
		v, err := n.tmpl.ExecuteText(n.cfg.Headers[name], m)
		if err != nil {
			return nil, fmt.Errorf("header %s template: %w", name, err)
		}
		// An empty result leaves the header out (or to its default), so
		// a template can set one conditionally.
		if v = strings.TrimSpace(lineBreaks.Replace(v)); v != "" {
			hs = append(hs, header{name, v})
		}
	}
	return hs, nil
}

// addressHeaders hold mailboxes; a display name in them is encoded by
// net/mail, since one encoded-word over a whole "Name <addr>" would hide
// the address from the reader.
var addressHeaders = []string{"From", "To", "Cc", "Reply-To", "Sender"}

// compose renders m into a complete RFC 5322 message: multipart/alternative
// with a text and an HTML part, both UTF-8 and quoted-printable so any relay
// passes them unchanged, whether it speaks 8BITMIME or not.
func (n *Notifier) compose(m *message.Message) ([]byte, error) {
	custom, err := n.renderHeaders(m)
	if err != nil {
		return nil, err
	}
	now := n.now()
	hs := []header{
		{"Date", now.Format(time.RFC1123Z)},
		{"From", n.from.String()},
		{"To", formatAddresses(n.to)},
		{"Subject", ""},
		{"Message-Id", n.messageID(now)},
		{"MIME-Version", "1.0"},
	}
	for _, h := range custom {
		if i := slices.IndexFunc(hs, h.is); i >= 0 {
			hs[i].value = h.value
		} else {
			hs = append(hs, h)
		}
	}
	if i := slices.IndexFunc(hs, header{name: "Subject"}.is); hs[i].value == "" {
		if hs[i].value, err = n.tmpl.Title(m); err != nil {
			return nil, fmt.Errorf("title template: %w", err)
		}
	}

	text, err := n.render(n.cfg.Text, n.tmpl.Text, n.tmpl.ExecuteText, m)
	if err != nil {
		return nil, fmt.Errorf("text template: %w", err)
	}
	html, err := n.render(n.cfg.HTML, n.tmpl.HTML, n.tmpl.ExecuteHTML, m)
	if err != nil {
		return nil, fmt.Errorf("html template: %w", err)
	}

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	hs = append(hs, header{"Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()})})
	var head bytes.Buffer
	for _, h := range hs {
		v, err := encodeHeader(h.name, h.value)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&head, "%s: %s\r\n", h.name, v)
	}
	head.WriteString("\r\n")

	for _, p := range []struct{ mediaType, body string }{{"text/plain", text}, {"text/html", html}} {
		if err := writePart(mw, p.mediaType, p.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return append(head.Bytes(), buf.Bytes()...), nil
}

// render executes the configured template, or the default one when none is.
func (n *Notifier) render(text string, def func(*message.Message) (string, error), exec func(string, *message.Message) (string, error), m *message.Message) (string, error) {
	if text == "" {
		return def(m)
	}
	return exec(text, m)
}

func writePart(mw *multipart.Writer, mediaType, body string) error {
	pw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {mediaType + "; charset=UTF-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return err
	}
	qp := quotedprintable.NewWriter(pw)
	if _, err := qp.Write([]byte(body)); err != nil {
		return err
	}
	return qp.Close()
}

// lineBreaks would end a header early, letting a template's stray newline
// (or a label value) inject header fields.
var lineBreaks = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")

// encodeHeader makes a value safe for a header field: one line, non-ASCII
// as RFC 2047 encoded-words (the Chinese titles), addresses re-formatted.
func encodeHeader(name, value string) (string, error) {
	value = strings.TrimSpace(lineBreaks.Replace(value))
	if slices.Contains(addressHeaders, textproto.CanonicalMIMEHeaderKey(name)) {
		list, err := mail.ParseAddressList(value)
		if err != nil {
			return "", fmt.Errorf("header %s: invalid address list %q: %w", name, value, err)
		}
		return formatAddresses(list), nil
	}
	// Encode splits long text into encoded-words of at most 75 bytes;
	// folding between them keeps lines short for strict readers, and
	// decoders drop the whitespace between adjacent encoded-words.
	return strings.ReplaceAll(mime.QEncoding.Encode("utf-8", value), "?= =?", "?=\r\n =?"), nil
}

func formatAddresses(list []*mail.Address) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// messageID is unique per message: time plus 130 random bits, at the
// sender's domain as RFC 5322 advises, so threads and deduplication in
// mail clients hold.
func (n *Notifier) messageID(now time.Time) string {
	return "<" + strconv.FormatInt(now.UnixNano(), 36) + "." + strings.ToLower(rand.Text()) + "@" + n.domain + ">"
}
