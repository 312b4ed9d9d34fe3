package email

import (
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"slices"
	"strings"
)

// credentials are what AUTH sends; built per delivery because the password
// may come from a file that changes.
type credentials struct {
	identity, username, password string
}

// mechanisms gatewarden speaks, most preferred first. PLAIN is one round
// trip; LOGIN is what Office 365 and many older relays offer.
var mechanisms = []string{"PLAIN", "LOGIN"}

// errNoMechanism is permanent: another attempt meets the same server.
var errNoMechanism = errors.New("no supported AUTH mechanism")

// auth picks a mechanism among those the server advertises (the parameter
// of its AUTH extension).
func (c credentials) auth(advertised string) (smtp.Auth, error) {
	offered := strings.Fields(strings.ToUpper(advertised))
	for _, m := range mechanisms {
		if !slices.Contains(offered, m) {
			continue
		}
		if m == "PLAIN" {
			return &plainAuth{c}, nil
		}
		return &loginAuth{credentials: c}, nil
	}
	return nil, fmt.Errorf("%w: the server offers %q, gatewarden speaks %s", errNoMechanism, advertised, strings.Join(mechanisms, " and "))
}

// errCleartext refuses to send credentials anyone on the path could read;
// it is permanent, only the config can fix it.
var errCleartext = errors.New("refusing to send credentials over an unencrypted connection to a remote host: enable require_tls or implicit TLS")

// checkChannel is net/smtp's rule for PLAIN, applied to every mechanism:
// credentials travel only over TLS or to this machine.
func checkChannel(server *smtp.ServerInfo) error {
	if server.TLS || isLocalhost(server.Name) {
		return nil
	}
	return permanent(fmt.Errorf("%w (%s)", errCleartext, server.Name))
}

func isLocalhost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// plainAuth is RFC 4616, with the initial response in the AUTH command.
type plainAuth struct{ credentials }

func (a *plainAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if err := checkChannel(server); err != nil {
		return "", nil, err
	}
	return "PLAIN", a.plainResponse(), nil
}

func (c credentials) plainResponse() []byte {
	return []byte(c.identity + "\x00" + c.username + "\x00" + c.password)
}

func (a *plainAuth) Next(_ []byte, more bool) ([]byte, error) {
	if more {
		return nil, errors.New("unexpected server challenge after AUTH PLAIN")
	}
	return nil, nil
}

// loginAuth is the obsolete but ubiquitous LOGIN mechanism
// (draft-murchison-sasl-login): the server prompts for the user name, then
// for the password. Prompts differ between servers ("Username:",
// "User Name"), so they are recognised by content and, failing that, by
// order.
type loginAuth struct {
	credentials
	step int
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if err := checkChannel(server); err != nil {
		return "", nil, err
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	prompt := strings.ToLower(string(fromServer))
	switch {
	case strings.Contains(prompt, "user"):
		return []byte(a.username), nil
	case strings.Contains(prompt, "pass"):
		return []byte(a.password), nil
	case a.step == 1:
		return []byte(a.username), nil
	case a.step == 2:
		return []byte(a.password), nil
	}
	return nil, fmt.Errorf("unexpected AUTH LOGIN challenge %q", fromServer)
}
