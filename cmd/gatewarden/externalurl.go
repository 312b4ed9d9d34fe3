package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// externalURL is the URL gatewarden is reached under, for the links its
// alerts carry (generatorURL), as Prometheus's --web.external-url: the
// flag's value, or http://<hostname>:<port> of the first listen address.
// The result has no trailing slash, so that paths append to it.
func externalURL(flag string, listen []string) (string, error) {
	if flag == "" {
		host, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("--web.external-url is not set and the hostname is unknown: %w", err)
		}
		port := "9095"
		if len(listen) > 0 {
			if _, p, err := net.SplitHostPort(listen[0]); err == nil {
				port = p
			}
		}
		flag = "http://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(flag)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("--web.external-url %q: want an absolute http or https URL", flag)
	}
	if u.User != nil {
		// Every alert and notification carries this URL.
		return "", fmt.Errorf("--web.external-url %q: credentials in it would go out in every link", u.Redacted())
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}
