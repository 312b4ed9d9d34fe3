package remote

import (
	"cmp"
	"context"
	"encoding/base64"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gatewarden/gatewarden/config"
)

// redactor is a log handler for Prometheus's remote-write code, which logs
// a failed request with the receiver's answer: a careless receiver echoes
// the request's headers or credentials, and that must not reach our log.
// It replaces every credential of the remote_write section, as the last
// applied config has them, wherever it appears in a record.
type redactor struct {
	next    slog.Handler
	secrets *atomic.Pointer[strings.Replacer]
	known   map[string]bool // every credential learnt: queues of an earlier config may still log
}

func newRedactor(next slog.Handler) *redactor {
	r := &redactor{next: next, secrets: &atomic.Pointer[strings.Replacer]{}, known: map[string]bool{}}
	r.secrets.Store(strings.NewReplacer())
	return r
}

// learn adds the credentials of the endpoints about to be applied: header
// values, passwords, bearer credentials, inline or read from their files.
// Calls are serialised by the config reloader.
func (r *redactor) learn(rws []*config.RemoteWriteConfig) {
	add := func(s string) {
		// Short strings would blank out ordinary words of the log.
		if s = strings.TrimSpace(s); len(s) >= 4 {
			r.known[s] = true
		}
	}
	// secret is a credential as it is used: read from its file when it
	// names one, inline otherwise.
	secret := func(inline, file string) string {
		if file == "" {
			return inline
		}
		b, _ := os.ReadFile(file)
		return strings.TrimSpace(string(b))
	}
	for _, rw := range rws {
		for _, v := range rw.Headers {
			add(v)
		}
		if rw.URL != nil && rw.URL.User != nil {
			p, _ := rw.URL.User.Password()
			add(p)
		}
		hc := rw.HTTPClientConfig
		if ba := hc.BasicAuth; ba != nil {
			pw := secret(string(ba.Password), ba.PasswordFile)
			add(pw)
			// What goes on the wire, which an echo shows.
			add(base64.StdEncoding.EncodeToString([]byte(secret(ba.Username, ba.UsernameFile) + ":" + pw)))
		}
		if a := hc.Authorization; a != nil {
			add(secret(string(a.Credentials), a.CredentialsFile))
		}
		if o := hc.OAuth2; o != nil {
			add(secret(string(o.ClientSecret), o.ClientSecretFile))
		}
	}
	// Longest first: a secret that starts another must not leave the
	// other's tail in the clear.
	secrets := slices.SortedFunc(maps.Keys(r.known), func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	var pairs []string
	for _, s := range secrets {
		pairs = append(pairs, s, "<secret>")
	}
	r.secrets.Store(strings.NewReplacer(pairs...))
}

func (r *redactor) Enabled(ctx context.Context, l slog.Level) bool { return r.next.Enabled(ctx, l) }

func (r *redactor) Handle(ctx context.Context, rec slog.Record) error {
	rp := r.secrets.Load()
	out := slog.NewRecord(rec.Time, rec.Level, rp.Replace(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(rp, a))
		return true
	})
	return r.next.Handle(ctx, out)
}

func redactAttr(rp *strings.Replacer, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, g := range as {
			out[i] = redactAttr(rp, g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindString:
		return slog.String(a.Key, rp.Replace(v.String()))
	case slog.KindAny:
		// Errors and values with a String method: their text is what a
		// handler would print.
		return slog.String(a.Key, rp.Replace(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (r *redactor) WithAttrs(as []slog.Attr) slog.Handler {
	rp := r.secrets.Load()
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = redactAttr(rp, a)
	}
	return &redactor{next: r.next.WithAttrs(out), secrets: r.secrets}
}

func (r *redactor) WithGroup(name string) slog.Handler {
	return &redactor{next: r.next.WithGroup(name), secrets: r.secrets}
}
