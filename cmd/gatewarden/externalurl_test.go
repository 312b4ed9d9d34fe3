package main

import (
	"os"
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
	for _, bad := range []string{"gw:9095", "/watch", "ftp://gw", "http://"} {
		if got, err := externalURL(bad, nil); err == nil {
			t.Errorf("externalURL(%q) = %q, want an error", bad, got)
		}
	}
}
