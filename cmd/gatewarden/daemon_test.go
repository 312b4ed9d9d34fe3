package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"
)

// These tests run the real binary: signals, the listener and the WAL on disk
// are what they are about.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatewarden-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "gatewarden")
	if out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gatewarden: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

type syncBuffer struct {
	mtx sync.Mutex
	b   bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mtx.Lock()
	defer s.mtx.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mtx.Lock()
	defer s.mtx.Unlock()
	return s.b.String()
}

type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
	api  promv1.API
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startDaemon(t *testing.T, configFile, storage string, extra ...string) *daemon {
	t.Helper()
	addr := freeAddr(t)
	d := &daemon{t: t, url: "http://" + addr, logs: &syncBuffer{}}
	args := []string{"--config.file=" + configFile, "--storage.path=" + storage, "--web.listen-address=" + addr, "--log.level=debug"}
	if !slices.Contains(extra, "--no-web.enable-lifecycle") {
		args = append(args, "--web.enable-lifecycle") // the tests reload over HTTP
	}
	args = append(args, extra...)
	d.cmd = exec.Command(binary, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			_ = d.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("gatewarden log:\n%s", d.logs.String())
		}
	})
	c, err := api.NewClient(api.Config{Address: d.url})
	if err != nil {
		t.Fatal(err)
	}
	d.api = promv1.NewAPI(c)
	d.eventually("ready", func() bool {
		resp, err := http.Get(d.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200 || resp.StatusCode == http.StatusUnauthorized
	})
	return d
}

// eventually polls cond; the daemon scrapes on its own clock, so the tests
// wait for what it reports instead of sleeping for a guessed time.
// send makes one request to the daemon, with a bearer token unless token
// is empty and a JSON Content-Type when there is a body, and returns the
// answer with its body read.
func (d *daemon) send(method, path, body, token string) (*http.Response, []byte) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.url+path, strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (d *daemon) eventually(what string, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) scalar(expr string) float64 {
	d.t.Helper()
	v, _, err := d.api.Query(context.Background(), expr, time.Now())
	if err != nil {
		d.t.Fatalf("query %s: %v", expr, err)
	}
	vec := v.(model.Vector)
	if len(vec) == 0 {
		return 0
	}
	return float64(vec[0].Value)
}

// metricSum adds up every series of a metric family on /metrics.
func (d *daemon) metricSum(name string) float64 {
	d.t.Helper()
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	sum := 0.0
	for _, line := range strings.Split(body.String(), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			d.t.Fatal(err)
		}
		sum += f
	}
	return sum
}

// metric reads one unlabelled series from the daemon's own /metrics.
func (d *daemon) metric(name string) float64 {
	d.t.Helper()
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	for _, line := range strings.Split(body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				d.t.Fatal(err)
			}
			return f
		}
	}
	d.t.Fatalf("%s not on /metrics", name)
	return 0
}

func (d *daemon) jobs() []string {
	d.t.Helper()
	res, err := d.api.Targets(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	var jobs []string
	for _, t := range res.Active {
		jobs = append(jobs, t.ScrapePool)
	}
	return jobs
}

func (d *daemon) stop() {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatal(err)
	}
	if err := d.cmd.Wait(); err != nil {
		d.t.Fatalf("gatewarden did not exit cleanly on SIGTERM: %v", err)
	}
	if !strings.Contains(d.logs.String(), "shutting down") {
		d.t.Errorf("no shutdown message in the log")
	}
}

func target(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "gateway_requests_total{master=\"m1\"} 42")
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func jobConfig(job, addr string) string {
	return fmt.Sprintf("scrape_configs:\n  - job_name: %s\n    scrape_interval: 1s\n    static_configs: [{targets: [%q]}]\n", job, addr)
}

func TestReloadKeepsRunningConfigOnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	addr := target(t)
	writeConfig(t, cfg, jobConfig("a", addr))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	if jobs := d.jobs(); len(jobs) != 1 || jobs[0] != "a" {
		t.Fatalf("jobs = %v", jobs)
	}

	badReload := func(yml, want string) {
		t.Helper()
		writeConfig(t, cfg, yml)
		resp, err := http.Post(d.url+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body := new(bytes.Buffer)
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(body.String(), want) {
			t.Fatalf("bad reload answered %d %q, want 500 with %q", resp.StatusCode, body.String(), want)
		}
		if v := d.metric("gatewarden_config_last_reload_successful"); v != 0 {
			t.Errorf("gatewarden_config_last_reload_successful = %v after a bad reload", v)
		}
	}
	badReload(jobConfig("b", addr)+"    scrape_intervall: 5s\n", cfg+`:5:5: unknown field "scrape_intervall"`)
	// A secret file that is not there fails the reload, as it fails startup.
	badReload(jobConfig("b", addr)+"    basic_auth: {username: u, password_file: pw}\n",
		cfg+":5:46: basic_auth password_file: open "+filepath.Join(dir, "pw")+": no such file or directory")
	d.eventually("job a still scraped after the bad reload", func() bool { return d.scalar(`up{job="a"}`) == 1 })

	writeConfig(t, cfg, jobConfig("b", addr))
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.eventually("SIGHUP reload to job b", func() bool {
		jobs := d.jobs()
		return len(jobs) == 1 && jobs[0] == "b" && d.metric("gatewarden_config_last_reload_successful") == 1
	})
	d.stop()
}

func TestRestartReplaysWAL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, data := filepath.Join(dir, "gatewarden.yml"), filepath.Join(dir, "data")
	writeConfig(t, cfg, jobConfig("a", target(t)))
	d := startDaemon(t, cfg, data)
	d.eventually("two scrapes", func() bool { return d.scalar(`count_over_time(gateway_requests_total[1h])`) >= 2 })
	before := d.scalar(`count_over_time(gateway_requests_total[1h])`)
	d.stop()

	// Restarted with nothing to scrape, all it can answer is what the WAL
	// kept.
	writeConfig(t, cfg, "")
	d = startDaemon(t, cfg, data)
	if after := d.scalar(`count_over_time(gateway_requests_total[1h])`); after < before {
		t.Fatalf("after restart %v samples, before %v", after, before)
	}
	if v := d.scalar(`last_over_time(gateway_requests_total{job="a",master="m1"}[1h])`); v != 42 {
		t.Errorf("replayed value = %v, want 42", v)
	}
	d.stop()
}

func TestStartFailsOnInvalidConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, "global:\n  scrape_interval: often\n")
	out, err := exec.Command(binary, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"), "--web.listen-address="+freeAddr(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), cfg+`:2:20: invalid duration \"often\"`) {
		t.Fatalf("want a failed start naming file:line:column, got %v:\n%s", err, out)
	}
}

// TestWebConfigBasicAuth: --web.config.file protects every endpoint, as in
// every Prometheus component (exporter-toolkit).
func TestWebConfigBasicAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(dir, "web.yml")
	writeConfig(t, web, "basic_auth_users:\n  admin: "+string(hash)+"\n")
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, "rule_files: []\n")
	d := startDaemon(t, cfg, filepath.Join(dir, "data"), "--web.config.file="+web)
	get := func(user, pass string) int {
		req, _ := http.NewRequest("GET", d.url+"/api/v1/query?query=vector(1)", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// /-/ready answers 401 before it answers 503, so startDaemon cannot
	// tell readiness through basic auth: wait for it with the password.
	d.eventually("ready behind basic auth", func() bool { return get("admin", "s3cret") != http.StatusServiceUnavailable })
	if code := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", code)
	}
	if code := get("admin", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", code)
	}
	if code := get("admin", "s3cret"); code != http.StatusOK {
		t.Errorf("right password: %d, want 200", code)
	}
	if strings.Contains(d.logs.String(), "s3cret") {
		t.Error("the password appears in the log")
	}
	d.stop()
}

// TestSIGTERMDuringStartup stops gatewarden as soon as it listens, before
// or while it opens its stores: it must still exit cleanly.
func TestSIGTERMDuringStartup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, "rule_files: []\n")
	addr := freeAddr(t)
	cmd := exec.Command(binary, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/-/healthy"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never listened:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, logs.String())
	}
}
