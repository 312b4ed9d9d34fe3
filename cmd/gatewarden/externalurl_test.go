package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExternalURL(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flag   string
		listen []string
		want   string
	}{
		{"", []string{":9095"}, "http://" + host + ":9095"},
		{"", []string{"127.0.0.1:9999", ":9095"}, "http://" + host + ":9999"},
		{"https://gw.example.com/watch/", nil, "https://gw.example.com/watch"},
		{"http://gw:9095", nil, "http://gw:9095"},
	} {
		if got, err := externalURL(c.flag, c.listen); err != nil || got != c.want {
			t.Errorf("externalURL(%q, %q) = %q, %v; want %q", c.flag, c.listen, got, err, c.want)
		}
	}
	for _, bad := range []string{"gw:9095", "/watch", "ftp://gw", "http://", "https://user:secret@gw"} {
		if got, err := externalURL(bad, nil); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("externalURL(%q) = %q, %v; want an error without the password", bad, got, err)
		}
	}
}

// TestReceiverLinksDefaultToExternalURL: a receiver section without an
// external_url links its notifications to --web.external-url when that is
// set, to nothing when not; one with it keeps its own.
func TestReceiverLinksDefaultToExternalURL(t *testing.T) {
	dir := t.TempDir()
	receiver := `receiver:
  %s
  route: {receiver: ops}
  receivers: [{name: ops}]
`
	for _, c := range []struct{ yaml, flag, want string }{
		{fmt.Sprintf(receiver, ""), "http://gw:9095", "http://gw:9095"},
		{fmt.Sprintf(receiver, ""), "", ""},
		{fmt.Sprintf(receiver, "external_url: https://alerts.example.com"), "http://gw:9095", "https://alerts.example.com"},
	} {
		file := filepath.Join(dir, "gatewarden.yml")
		if err := os.WriteFile(file, []byte(c.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(file, c.flag)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Receiver.ExternalURL; got != c.want {
			t.Errorf("%s with --web.external-url %q: external_url %q, want %q", c.yaml, c.flag, got, c.want)
		}
	}
	file := filepath.Join(dir, "none.yml")
	if err := os.WriteFile(file, []byte("global: {scrape_interval: 10s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := loadConfig(file, "http://gw:9095"); err != nil || cfg.Receiver != nil {
		t.Errorf("no receiver section: %+v, %v; want none", cfg.Receiver, err)
	}
}
