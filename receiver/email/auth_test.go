package email

import (
	"net/smtp"
	"strings"
	"testing"
)

func TestMechanismChoice(t *testing.T) {
	c := credentials{username: "u", password: "p"}
	for offered, want := range map[string]string{
		"PLAIN LOGIN":        "PLAIN",
		"login plain":        "PLAIN",
		"LOGIN XOAUTH2":      "LOGIN",
		"CRAM-MD5 XOAUTH2":   "",
		"":                   "",
		"GSSAPI LOGIN PLAIN": "PLAIN",
	} {
		a, err := c.auth(offered)
		got := ""
		if err == nil {
			got, _, _ = a.Start(&smtp.ServerInfo{Name: "smtp.example.com", TLS: true})
		}
		if got != want || (want == "") != (err != nil) || err != nil && retryable(permanent(err)) {
			t.Errorf("offered %q: chose %q (%v), want %q", offered, got, err, want)
		}
	}
}

// Servers word the LOGIN prompts differently; the answers must not swap.
func TestLoginPrompts(t *testing.T) {
	for _, prompts := range [][2]string{
		{"Username:", "Password:"},
		{"User Name\x00", "Password\x00"},
		{"", ""}, // no text at all: by order
	} {
		a := &loginAuth{credentials: credentials{username: "u", password: "p"}}
		if _, _, err := a.Start(&smtp.ServerInfo{Name: "localhost"}); err != nil {
			t.Fatal(err)
		}
		user, err1 := a.Next([]byte(prompts[0]), true)
		pass, err2 := a.Next([]byte(prompts[1]), true)
		done, err3 := a.Next([]byte("2.7.0 Authentication successful"), false)
		if string(user) != "u" || string(pass) != "p" || done != nil || err1 != nil || err2 != nil || err3 != nil {
			t.Errorf("prompts %q: answered %q, %q, %q (%v %v %v)", prompts, user, pass, done, err1, err2, err3)
		}
		if _, err := a.Next([]byte("more?"), true); err == nil {
			t.Errorf("prompts %q: a third challenge was answered", prompts)
		}
	}
}

func TestCredentialsOnlyOverTLSOrLocally(t *testing.T) {
	for _, tc := range []struct {
		server smtp.ServerInfo
		ok     bool
	}{
		{smtp.ServerInfo{Name: "smtp.example.com", TLS: true}, true},
		{smtp.ServerInfo{Name: "localhost"}, true},
		{smtp.ServerInfo{Name: "127.0.0.1"}, true},
		{smtp.ServerInfo{Name: "::1"}, true},
		{smtp.ServerInfo{Name: "smtp.example.com"}, false},
		{smtp.ServerInfo{Name: "10.0.0.1"}, false},
		{smtp.ServerInfo{Name: "localhost.example.com"}, false},
	} {
		for _, a := range []smtp.Auth{&plainAuth{}, &loginAuth{}} {
			_, _, err := a.Start(&tc.server)
			if (err == nil) != tc.ok || err != nil && (retryable(err) || !strings.Contains(err.Error(), tc.server.Name)) {
				t.Errorf("%T to %+v: %v", a, tc.server, err)
			}
		}
	}
}

func TestServerWithoutUsableAuth(t *testing.T) {
	for _, mechs := range [][]string{{}, {"CRAM-MD5"}} {
		srv := startServer(t, &backend{mechs: mechs}, noTLS, true)
		retry, err := notify(t, authConfig(plainConfig(srv.addr), testPassword))
		if err == nil || retry || !strings.Contains(err.Error(), "AUTH") {
			t.Errorf("mechanisms %q: retry %v, err %v: want a permanent AUTH error", mechs, retry, err)
		}
	}
}
