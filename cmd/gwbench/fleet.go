package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"
)

// runFleet measures what a node of a fleet costs: gatewarden scraping the
// neutral target and remote-writing every sample, beside the anchor users
// would pick instead, Prometheus in agent mode doing the same, both
// sending to one remote-write sink that discards what it gets.
func runFleet(ctx context.Context, e *env, o ingestPromOpts, r *Report) error {
	sink, err := startWriteSink()
	if err != nil {
		return err
	}
	defer sink.stop()
	rw := fmt.Sprintf("remote_write:\n  - url: %s\n", sink.url)
	err = runNeutral(ctx, e, o, r, neutralRun{
		key: "fleet", gwConfig: "rule_files: []\n" + rw, promConfig: rw,
		prometheus: func(ctx context.Context, cfg string) (*proc, error) {
			return e.startPrometheusAgent(ctx, o.prometheus, cfg)
		},
		series: [2]string{"prometheus_tsdb_head_series", "prometheus_agent_active_series"},
		sent:   true,
	})
	e.logf("fleet: the sink took %d requests, %d MB (compressed)", sink.requests.Load(), sink.bytes.Load()>>20)
	return err
}

// startPrometheusAgent runs Prometheus with --agent: scrape, WAL and
// remote_write, no local queries or rules.
func (e *env) startPrometheusAgent(ctx context.Context, path, config string) (*proc, error) {
	dir, addr, err := e.workDir("prometheus-agent", map[string]string{"prometheus.yml": config})
	if err != nil {
		return nil, err
	}
	return e.startPath(ctx, path, "prometheus-agent", addr, "--agent",
		"--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.agent.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
}

// writeSink accepts remote-write requests and drops them: the receiver's
// own cost stays out of the figures of the two senders.
type writeSink struct {
	url             string
	srv             *http.Server
	requests, bytes atomic.Int64
}

func startWriteSink() (*writeSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &writeSink{url: "http://" + l.Addr().String() + "/api/v1/write"}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.requests.Add(1)
		s.bytes.Add(n)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *writeSink) stop() { _ = s.srv.Close() }
