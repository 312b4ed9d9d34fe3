// Package promtest runs the real time-series servers that gatewarden's
// remote_write and federation tests talk to: Prometheus of the pinned
// release, built from tools/prometheus, and VictoriaMetrics from Debian's
// victoria-metrics package (make test-deps installs it).
package promtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// PrometheusBinary builds Prometheus's server of the pinned release once
// per test binary (the build cache, warmed by make test-deps, makes it a
// link); GATEWARDEN_PROMETHEUS names a binary to use instead.
var PrometheusBinary = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("GATEWARDEN_PROMETHEUS"); p != "" {
		return p, nil
	}
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "..", "..", "tools", "prometheus")
	tmp, err := os.MkdirTemp("", "prometheus-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(tmp, "prometheus")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/prometheus/prometheus/cmd/prometheus")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building prometheus: %w\n%s", err, out)
	}
	return bin, nil
})

// VictoriaMetricsBinary is Debian's single-node VictoriaMetrics.
const VictoriaMetricsBinary = "/usr/bin/victoria-metrics"

// Server is one running server on 127.0.0.1 with its data directory, which
// Stop and Start keep, so a restart finds what it stored.
type Server struct {
	// URL is the server's root; remote write goes to URL+WritePath.
	URL, WritePath string
	Kind           string // "prometheus" or "victoriametrics"

	t    testing.TB
	bin  string
	args []string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

// Prometheus starts Prometheus as a remote-write receiver with no scrape
// jobs of its own.
func Prometheus(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin, err := PrometheusBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global: {scrape_interval: 1m}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	s := &Server{URL: "http://" + addr, WritePath: "/api/v1/write", Kind: "prometheus", t: t, bin: bin,
		args: append([]string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr, "--web.enable-remote-write-receiver", "--log.level=warn"}, extra...)}
	s.Start()
	return s
}

// VictoriaMetrics starts Debian's victoria-metrics with no latency offset,
// so a sample is queryable as soon as it is flushed.
func VictoriaMetrics(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(VictoriaMetricsBinary); err != nil {
		t.Fatalf("%v: make test-deps installs Debian's victoria-metrics package", err)
	}
	addr := FreeAddr(t)
	s := &Server{URL: "http://" + addr, WritePath: "/api/v1/write", Kind: "victoriametrics", t: t, bin: VictoriaMetricsBinary,
		args: []string{"-storageDataPath=" + filepath.Join(t.TempDir(), "data"), "-httpListenAddr=" + addr,
			"-search.latencyOffset=0s", "-retentionPeriod=100y", "-loggerLevel=ERROR"}}
	s.Start()
	return s
}

// FreeAddr is a 127.0.0.1 address nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Start runs the server and waits until it answers; the test's cleanup
// stops it.
func (s *Server) Start() {
	s.t.Helper()
	log, err := os.CreateTemp("", s.Kind+"-*.log")
	if err != nil {
		s.t.Fatal(err)
	}
	s.log = log
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	s.t.Cleanup(s.Stop)
	health := "/-/ready"
	if s.Kind == "victoriametrics" {
		health = "/health"
	}
	if err := poll(60*time.Second, func() (bool, error) {
		select {
		case <-s.done:
			return false, errors.New(s.Kind + " exited: " + s.logTail())
		default:
		}
		resp, err := http.Get(s.URL + health)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		s.t.Fatal(err)
	}
}

// Stop ends the server as an operator would (SIGTERM) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	_ = s.log.Close()
	_ = os.Remove(s.log.Name())
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Samples returns every raw sample the server holds of the series selector
// matches, by series: Prometheus answers a range selector with its raw
// samples, VictoriaMetrics exports them.
func (s *Server) Samples(ctx context.Context, selector string, from, to time.Time) (map[string][]model.SamplePair, error) {
	if s.Kind == "victoriametrics" {
		return s.export(ctx, selector, from, to)
	}
	rng := model.Duration(to.Sub(from).Truncate(time.Second) + time.Second)
	var m model.Matrix
	if err := s.get(ctx, "/api/v1/query", url.Values{"query": {selector + "[" + rng.String() + "]"}, "time": {ts(to)}}, &m); err != nil {
		return nil, err
	}
	out := map[string][]model.SamplePair{}
	for _, ss := range m {
		out[ss.Metric.String()] = ss.Values
	}
	return out, nil
}

func (s *Server) export(ctx context.Context, selector string, from, to time.Time) (map[string][]model.SamplePair, error) {
	q := url.Values{"match[]": {selector}, "start": {ts(from)}, "end": {ts(to)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/export?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("export: %s", resp.Status)
	}
	out := map[string][]model.SamplePair{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var line struct {
			Metric     model.Metric `json:"metric"`
			Values     []float64    `json:"values"`
			Timestamps []int64      `json:"timestamps"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, err
		}
		k := line.Metric.String()
		for i, v := range line.Values {
			out[k] = append(out[k], model.SamplePair{Timestamp: model.Time(line.Timestamps[i]), Value: model.SampleValue(v)})
		}
		sort.Slice(out[k], func(i, j int) bool { return out[k][i].Timestamp < out[k][j].Timestamp })
	}
	return out, sc.Err()
}

// Query runs an instant query through the Prometheus API both servers speak.
func (s *Server) Query(ctx context.Context, query string, at time.Time) (model.Vector, error) {
	var v model.Vector
	err := s.get(ctx, "/api/v1/query", url.Values{"query": {query}, "time": {ts(at)}}, &v)
	return v, err
}

func (s *Server) get(ctx context.Context, path string, q url.Values, result any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s %s: %s: %w", s.Kind, path, resp.Status, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s %s: %s", s.Kind, path, body.Error)
	}
	return json.Unmarshal(body.Data.Result, result)
}

func ts(t time.Time) string { return fmt.Sprintf("%.3f", float64(t.UnixMilli())/1000) }

// poll calls cond every 50 ms until it holds, fails, or the time is up.
func poll(limit time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s", limit)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Poll is poll for the tests: it waits for a condition, never for a time.
func Poll(t testing.TB, limit time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	if err := poll(limit, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
