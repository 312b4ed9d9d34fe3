package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/access"
)

func TestReadinessGatesEverythingButProcessEndpoints(t *testing.T) {
	var ready atomic.Bool
	h := newHandler(prometheus.NewRegistry(), &ready, access.New(), webOptions{lifecycle: true})
	h.mux.HandleFunc("GET /api/v1/query", func(w http.ResponseWriter, _ *http.Request) {})
	code := func(method, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec.Code
	}
	for path, want := range map[string]int{"/-/ready": 503, "/-/healthy": 200, "/metrics": 200, "/api/v1/query": 503} {
		if got := code("GET", path); got != want {
			t.Errorf("before ready: GET %s = %d, want %d", path, got, want)
		}
	}
	ready.Store(true)
	for path, want := range map[string]int{"/-/ready": 200, "/api/v1/query": 200} {
		if got := code("GET", path); got != want {
			t.Errorf("after ready: GET %s = %d, want %d", path, got, want)
		}
	}
	if got := code("GET", "/-/reload"); got != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload = %d, want 405", got)
	}
}

func TestReloadEndpointReportsOutcome(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	h := newHandler(prometheus.NewRegistry(), &ready, access.New(), webOptions{lifecycle: true})
	go func() {
		(<-h.reloadCh) <- errors.New("f.yml:3:3: unknown field \"x\"")
		(<-h.reloadCh) <- nil
	}()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/-/reload", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `f.yml:3:3: unknown field "x"`) {
		t.Errorf("failed reload: %d %q", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("PUT", "/-/reload", nil))
	if rec.Code != 200 {
		t.Errorf("good reload: %d %q", rec.Code, rec.Body.String())
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{"gzip": true, "deflate, gzip;q=0.5": true, "gzip;q=0": false, "gzip; q=0.0": false, "identity": false, "": false, "*": true} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}
