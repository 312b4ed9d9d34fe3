package ledgertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/internal/pgtest"
)

// The real binary, built once per test binary and only when a test asks
// for it, so the checker's unit tests run without it.
var (
	buildOnce sync.Once
	binPath   string
	binErr    error
	binDir    string

	pgOnce    sync.Once
	pgCluster *pgtest.Cluster
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgCluster != nil {
		pgCluster.Stop()
	}
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func gatewardenBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("GATEWARDEN_LEDGER_BINARY"); p != "" {
			binPath = p
			return
		}
		root, err := repoRoot()
		if err != nil {
			binErr = err
			return
		}
		if binDir, binErr = os.MkdirTemp("", "gatewarden-ledger-bin"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "gatewarden")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "./cmd/gatewarden")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("building gatewarden: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// repoRoot walks up from the working directory (receiver/ledgertest) to
// the module's go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/gatewarden/gatewarden\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod of github.com/gatewarden/gatewarden not found above the working directory")
		}
		dir = parent
	}
}

func postgres(t *testing.T) string {
	t.Helper()
	pgOnce.Do(func() { pgCluster = pgtest.Start() })
	return pgCluster.NewDB(t)
}

// syncBuffer collects a process's output across restarts.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// daemon is one gatewarden process, restarted on the same storage.
type daemon struct {
	idx     int
	bin     string
	cfg     string
	storage string
	logs    *syncBuffer

	url    string
	cmd    *exec.Cmd
	exited chan struct{}
}

var client = &http.Client{Timeout: 15 * time.Second}

func (d *daemon) running() bool { return d.cmd != nil }

func (d *daemon) start() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	d.url = "http://" + addr
	fmt.Fprintf(d.logs, "=== start %s on %s\n", time.Now().UTC().Format("15:04:05.000"), addr)
	d.cmd = exec.Command(d.bin, "--config.file="+d.cfg, "--storage.path="+d.storage, "--web.listen-address="+addr, "--log.level=info",
		"--web.enable-lifecycle") // reloads go over HTTP as often as by SIGHUP
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		d.cmd = nil
		return err
	}
	d.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(d.cmd, d.exited)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get(d.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-d.exited:
			d.cmd = nil
			return fmt.Errorf("daemon %d exited during start:\n%s", d.idx, d.logs.tail(30))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon %d not ready after 60s", d.idx)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// stop ends the process gracefully (SIGTERM) or not (SIGKILL).
func (d *daemon) stop(kill bool) error {
	if d.cmd == nil {
		return nil
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	fmt.Fprintf(d.logs, "=== %s %s\n", sig, time.Now().UTC().Format("15:04:05.000"))
	if err := d.cmd.Process.Signal(sig); err != nil {
		return err
	}
	defer func() { d.cmd = nil }()
	select {
	case <-d.exited:
		if !kill && d.cmd.ProcessState != nil && !d.cmd.ProcessState.Success() {
			return fmt.Errorf("daemon %d exited with %v on SIGTERM", d.idx, d.cmd.ProcessState)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("daemon %d did not exit within 30s of SIGTERM", d.idx)
	}
}

// reload applies the config file by SIGHUP or POST /-/reload and waits
// until it took effect.
func (d *daemon) reload(sighup bool) error {
	if !sighup {
		resp, err := client.Post(d.url+"/-/reload", "", nil)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST /-/reload: %s %s", resp.Status, b)
		}
		return nil
	}
	const stamp = "gatewarden_config_last_reload_success_timestamp_seconds"
	before, _, err := d.metric(stamp)
	if err != nil {
		return err
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if v, _, err := d.metric(stamp); err == nil && v > before {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("daemon %d: SIGHUP reload not applied within 15s", d.idx)
}

// do sends a request with a JSON body; the answer's body is returned.
func (d *daemon) do(method, path string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.url+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (d *daemon) getJSON(path string, v any) error {
	code, b, err := d.do(http.MethodGet, path, nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, code, b)
	}
	return json.Unmarshal(b, v)
}

// metric reads one unlabelled sample from /metrics.
func (d *daemon) metric(name string) (float64, bool, error) {
	resp, err := client.Get(d.url + "/metrics")
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil, err
		}
	}
	return 0, false, sc.Err()
}

// history reads the whole delivery history, page by page (the API caps a
// page at 200 whatever limit asks).
func (d *daemon) history() ([]entry, error) {
	var all []entry
	for offset := 0; ; {
		var page struct {
			Total int     `json:"total"`
			Items []entry `json:"items"`
		}
		if err := d.getJSON(fmt.Sprintf("/admin/alert-history?limit=1000&offset=%d", offset), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		offset += len(page.Items)
		if len(page.Items) == 0 || offset >= page.Total {
			return all, nil
		}
	}
}

func (d *daemon) historyTotal() (int, error) {
	var page struct {
		Total int `json:"total"`
	}
	err := d.getJSON("/admin/alert-history?limit=1", &page)
	return page.Total, err
}

func (d *daemon) channels() (map[int64]string, error) {
	var page struct {
		Items []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := d.getJSON("/admin/alert-channels", &page); err != nil {
		return nil, err
	}
	out := map[int64]string{}
	for _, c := range page.Items {
		out[c.ID] = c.Name
	}
	return out, nil
}

// backlog is what the outbox still owes: pending (metric) and, when the
// admin API tells, items claimed and not finished.
func (d *daemon) backlog() (int, error) {
	pending, ok, err := d.metric("gatewarden_outbox_pending")
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, errors.New("gatewarden_outbox_pending not on /metrics")
	}
	var ob struct {
		Pending *int `json:"pending"`
		Sending *int `json:"sending"`
	}
	if err := d.getJSON("/admin/outbox?limit=1", &ob); err == nil && ob.Sending != nil {
		return int(pending) + *ob.Sending, nil
	}
	return int(pending), nil
}
