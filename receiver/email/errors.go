package email

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net/textproto"
	"strings"
)

// permanentError marks a failure another attempt would repeat: the
// configuration or the server's policy has to change first.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func permanent(err error) error { return permanentError{err} }

// retryable decides what the outbox does with a failure. SMTP says it in
// the reply code: 4xx is transient (greylisting, 421 shutting down, 451
// local error), 5xx is not, 535 (bad credentials) included. Anything
// without a reply (refused, reset, timed out) is the network or a server
// that is down, which passes.
func retryable(err error) bool {
	var pe permanentError
	if errors.As(err, &pe) {
		return false
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return reply.Code >= 400 && reply.Code < 500
	}
	// An untrusted certificate stays untrusted until someone acts.
	var cert *tls.CertificateVerificationError
	return !errors.As(err, &cert)
}

// redact removes the password from an error in every form the dialog put
// on the wire, since servers quote commands back in their replies and AUTH
// carries the password in base64. The result no longer unwraps: the
// wrapped errors still hold the text.
func (c *credentials) redact(err error) error {
	if err == nil || c == nil || c.password == "" {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, form := range []string{
		base64.StdEncoding.EncodeToString(c.plainResponse()),
		base64.StdEncoding.EncodeToString([]byte(c.password)),
		c.password,
	} {
		clean = strings.ReplaceAll(clean, form, "<secret>")
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
