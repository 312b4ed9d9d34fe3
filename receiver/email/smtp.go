package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/smtp"
	"os"
	"strings"
	"time"
)

// envelope is one composed message and where it goes.
type envelope struct {
	from string
	to   []string
	body []byte
}

// deliver runs one SMTP dialog until the server accepts the message. The
// whole dialog shares one deadline, the earlier of ctx's and the timeout,
// so a relay that stalls mid-dialog cannot hold the caller.
func (n *Notifier) deliver(ctx context.Context, env *envelope, creds *credentials) error {
	deadline := time.Now().Add(n.cfg.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var tlsConf *tls.Config
	if n.implicit || n.cfg.requireTLS() {
		var err error
		if tlsConf, err = n.tlsConfig(); err != nil {
			return permanent(fmt.Errorf("tls_config: %w", err))
		}
	}

	conn, err := n.dial(ctx, "tcp", n.cfg.Smarthost)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	// Cancellation (shutdown) unblocks a read or write in progress.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if n.implicit {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	// net/smtp marks a *tls.Conn as encrypted, which AUTH checks.
	c, err := smtp.NewClient(conn, n.host)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(n.hello); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if !n.implicit && n.cfg.requireTLS() {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return permanent(errors.New("require_tls is true (the default) but the server does not offer STARTTLS"))
		}
		if err := c.StartTLS(tlsConf); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if creds != nil {
		if err := authenticate(c, creds); err != nil {
			return err
		}
	}
	return send(c, env)
}

func authenticate(c *smtp.Client, creds *credentials) error {
	ok, offered := c.Extension("AUTH")
	if !ok {
		return permanent(errors.New("auth_username is set but the server offers no AUTH"))
	}
	a, err := creds.auth(offered)
	if err != nil {
		return permanent(err)
	}
	if err := c.Auth(a); err != nil {
		return fmt.Errorf("AUTH: %w", err)
	}
	return nil
}

// send runs the transaction. Every recipient must be accepted: a message
// that reaches part of the list and then gets retried would reach that
// part twice.
func send(c *smtp.Client, env *envelope) error {
	if err := c.Mail(env.from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, to := range env.to {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("RCPT TO <%s>: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(env.body); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	// The message is accepted: a failing QUIT must not cause a retry,
	// which would deliver it twice.
	_ = c.Quit()
	return nil
}

// tlsConfig is built per delivery so a replaced ca_file is picked up.
func (n *Notifier) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{
		ServerName:         n.host,
		InsecureSkipVerify: n.cfg.TLSConfig.InsecureSkipVerify,
		MinVersion:         tls.VersionTLS12,
	}
	if n.cfg.TLSConfig.ServerName != "" {
		tc.ServerName = n.cfg.TLSConfig.ServerName
	}
	if f := n.cfg.TLSConfig.CAFile; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", f)
		}
	}
	return tc, nil
}

// readCredentials reads auth_password_file now rather than at load, so a
// rotated secret needs no reload.
func (n *Notifier) readCredentials() (*credentials, error) {
	if n.cfg.AuthUsername == "" {
		return nil, nil
	}
	c := &credentials{identity: n.cfg.AuthIdentity, username: n.cfg.AuthUsername, password: string(n.cfg.AuthPassword)}
	if f := n.cfg.AuthPasswordFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("auth_password_file: %w", err)
		}
		// A file written by echo ends in a newline that is no part of it.
		c.password = strings.TrimSpace(string(b))
	}
	return c, nil
}
