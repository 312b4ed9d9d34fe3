package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatewarden/gatewarden/access"
)

// handler serves the endpoints every Prometheus component has, around the
// APIs the other packages register on mux.
type handler struct {
	mux      *http.ServeMux
	ready    *atomic.Bool
	reloadCh chan chan error
	// quit asks the daemon to stop, as SIGTERM does (POST /-/quit).
	quit chan struct{}
	// stopping is closed when the reload actor ends, so a late reload
	// request is answered instead of waiting for the server to close.
	stopping chan struct{}
}

// webOptions are the flags that open endpoints, as Prometheus's.
type webOptions struct {
	// lifecycle serves /-/reload and /-/quit (--web.enable-lifecycle);
	// SIGHUP and SIGTERM work without it.
	lifecycle bool
	// pprof serves /debug/pprof/ to anyone (--web.enable-pprof); without
	// it the profiles need an admin token.
	pprof bool
}

func newHandler(reg *prometheus.Registry, ready *atomic.Bool, guard *access.Guard, o webOptions) *handler {
	h := &handler{mux: http.NewServeMux(), ready: ready, reloadCh: make(chan chan error), quit: make(chan struct{}, 1),
		stopping: make(chan struct{})}
	h.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: reg}))
	h.mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "gatewarden is Healthy.")
	})
	h.mux.HandleFunc("GET /-/ready", h.serveReady)
	lifecycle := func(f http.HandlerFunc) http.Handler {
		if !o.lifecycle {
			return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "Lifecycle API is not enabled.", http.StatusForbidden)
			})
		}
		return guard.Require(access.Admin, access.PlainDenial, f)
	}
	for _, m := range []string{"POST", "PUT"} {
		h.mux.Handle(m+" /-/reload", lifecycle(h.serveReload))
		h.mux.Handle(m+" /-/quit", lifecycle(h.serveQuit))
	}
	// Profiles, as every Prometheus component serves them, for memory and
	// CPU questions on a live process; they show internals, so an admin's.
	profiles := func(f http.HandlerFunc) http.Handler {
		if o.pprof {
			return f
		}
		return guard.Require(access.Admin, access.PlainDenial, f)
	}
	h.mux.Handle("GET /debug/pprof/", profiles(pprof.Index))
	h.mux.Handle("GET /debug/pprof/cmdline", profiles(pprof.Cmdline))
	h.mux.Handle("GET /debug/pprof/profile", profiles(pprof.Profile))
	h.mux.Handle("GET /debug/pprof/symbol", profiles(pprof.Symbol))
	h.mux.Handle("GET /debug/pprof/trace", profiles(pprof.Trace))
	return h
}

// ServeHTTP answers 503 for everything but the process endpoints until the
// store is open and the first config applied, as Prometheus does while its
// WAL replays.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/metrics", "/-/healthy", "/-/ready":
	default:
		if !h.ready.Load() {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// serveQuit stops the daemon gracefully, as SIGTERM does.
func (h *handler) serveQuit(w http.ResponseWriter, _ *http.Request) {
	select {
	case h.quit <- struct{}{}:
	default: // already asked
	}
	fmt.Fprintln(w, "Requesting termination... Goodbye!")
}

func (h *handler) serveReady(w http.ResponseWriter, _ *http.Request) {
	if !h.ready.Load() {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "gatewarden is Ready.")
}

// serveReload hands the request to the reload actor, so an HTTP reload and a
// SIGHUP take the same path, and answers with its outcome.
func (h *handler) serveReload(w http.ResponseWriter, r *http.Request) {
	done := make(chan error, 1)
	select {
	case h.reloadCh <- done:
	case <-h.stopping:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	case <-r.Context().Done():
		return
	}
	if err := <-done; err != nil {
		http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
	}
}

// gzipped compresses responses for clients that ask, as Prometheus does for
// its API: range queries for dashboards are large and compress tenfold.
func gzipped(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Add("Vary", "Accept-Encoding")
		zw := gzip.NewWriter(w)
		defer zw.Close()
		next.ServeHTTP(gzipWriter{ResponseWriter: w, w: zw}, r)
	})
}

// acceptsGzip reads Accept-Encoding far enough to honour "gzip;q=0".
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if enc == "gzip" || enc == "*" {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

type gzipWriter struct {
	http.ResponseWriter
	w io.Writer
}

func (g gzipWriter) Write(b []byte) (int, error) { return g.w.Write(b) }
