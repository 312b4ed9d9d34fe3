package webhook

import (
	"cmp"
	"encoding/base64"
	"math"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"
)

const redacted = "<redacted>"

// minNeedle skips URL parts too short to be a credential ("v1", "api"):
// redacting them would only garble a server's error message.
const minNeedle = 4

// redactor removes one request's secrets from text that a server or the
// network stack produced from it: a 404 page echoing the path ("Cannot POST
// /hooks/T0KEN"), a server repeating a header. Only the request's own values
// are needles, so the rest of the text survives for the operator.
type redactor struct {
	needles []string // longest first, so a whole value wins over its parts
	longest int
}

func newRedactor(u *url.URL, secret string, headers map[string]commoncfg.Secret) *redactor {
	cands := []string{secret, u.Path, u.EscapedPath(), u.RawQuery}
	if p, ok := u.User.Password(); ok {
		// net/http sends userinfo as basic auth, which a server may echo.
		basic := base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + p))
		cands = append(cands, p, url.QueryEscape(p), basic)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		cands = append(cands, seg, url.PathEscape(seg))
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			cands = append(cands, v, url.QueryEscape(v))
		}
	}
	for _, v := range headers {
		cands = append(cands, string(v))
	}
	r := &redactor{}
	for _, c := range cands {
		if len(c) >= minNeedle && !slices.Contains(r.needles, c) {
			r.needles = append(r.needles, c)
			r.longest = max(r.longest, len(c))
		}
	}
	slices.SortFunc(r.needles, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return r
}

// redact copies b with every needle replaced, stopping once the output
// reaches limit bytes. Only needles starting before end are looked for: when
// b is a prefix of a longer body, the caller sets end so that no needle can
// be cut by the buffer's edge and slip through half-matched.
func (r *redactor) redact(b []byte, end, limit int) string {
	var out strings.Builder
	for i := 0; i < end && out.Len() < limit; {
		if n := r.match(b[i:]); n > 0 {
			out.WriteString(redacted)
			i += n
			continue
		}
		out.WriteByte(b[i])
		i++
	}
	s := out.String()
	if len(s) > limit {
		s = s[:limit]
	}
	// A cut may split a rune, and a body may not be text at all.
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	return s
}

func (r *redactor) match(b []byte) int {
	for _, n := range r.needles {
		if len(b) >= len(n) && string(b[:len(n)]) == n {
			return len(n)
		}
	}
	return 0
}

// text redacts a whole message, such as a transport error's.
func (r *redactor) text(s string) string {
	return r.redact([]byte(s), len(s), math.MaxInt)
}

// excerpt redacts a prefix of a response body. complete reports whether b is
// the whole body.
func (r *redactor) excerpt(b []byte, complete bool) string {
	end := len(b)
	if !complete {
		end = max(0, end-r.longest)
	}
	return r.redact(b, end, excerptLimit)
}

// RedactURL is what a response may show of a webhook URL: its scheme, host
// and port. Many webhook providers put the credential in the path or the
// query, so both become "<secret>" (as do user info and fragments); a URL
// of an origin alone shows whole.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Redacted
	}
	origin := u.Scheme + "://" + u.Host
	if (u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == "" && u.User == nil {
		return origin + u.Path
	}
	return origin + "/" + Redacted
}

// Redacted stands for a secret in what gatewarden shows.
const Redacted = "<secret>"
