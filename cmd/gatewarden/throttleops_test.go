package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	simBinOnce sync.Once
	simBin     string
	simBinErr  error
)

// simProcess is gatewaysim as a process, restartable on its address.
type simProcess struct {
	t    *testing.T
	addr string
	cmd  *exec.Cmd
}

func startSim(t *testing.T, addr string, flags ...string) *simProcess {
	t.Helper()
	simBinOnce.Do(func() {
		simBin = filepath.Join(os.TempDir(), fmt.Sprintf("gatewaysim-test-%d", os.Getpid()))
		out, err := exec.Command("go", "build", "-o", simBin, "github.com/gatewarden/gatewarden/cmd/gatewaysim").CombinedOutput()
		if err != nil {
			simBinErr = fmt.Errorf("building gatewaysim: %v\n%s", err, out)
		}
	})
	if simBinErr != nil {
		t.Fatal(simBinErr)
	}
	s := &simProcess{t: t, addr: addr}
	s.cmd = exec.Command(simBin, append([]string{"--web.listen-address=" + addr, "--tick=200ms", "--bursts-per-hour=0", "--instances-per-plugin=4", "--log.level=warn"}, flags...)...)
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.kill)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("gatewaysim did not get ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *simProcess) kill() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_, _ = s.cmd.Process.Wait()
	}
}

// spike starts a cpu-spike on t1/t1-plugin1/instance.
func (s *simProcess) spike(instance string) {
	s.t.Helper()
	s.scenario(`{"name":"cpu-spike","target":{"tenant_id":"t1","plugin_id":"t1-plugin1","instance_id":"` + instance + `"}}`)
}

// scenario starts one, as POST /sim/scenario takes it.
func (s *simProcess) scenario(body string) {
	s.t.Helper()
	resp, err := http.Post("http://"+s.addr+"/sim/scenario", "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		s.t.Fatalf("starting scenario %s: %s", body, resp.Status)
	}
}

// throttled lists the instances the gateway holds a throttle on.
func (s *simProcess) throttled() map[string]int {
	s.t.Helper()
	resp, err := http.Get("http://" + s.addr + "/internal/gateway/throttle")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Throttles []struct {
			InstanceID     string `json:"instance_id"`
			MaxConcurrency int    `json:"max_concurrency"`
			Released       bool   `json:"released"`
		} `json:"throttles"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		s.t.Fatal(err)
	}
	out := map[string]int{}
	for _, th := range list.Throttles {
		if !th.Released {
			out[th.InstanceID] = th.MaxConcurrency
		}
	}
	return out
}

// gatewayConfig writes a config scraping the gateway at addr every scrape
// interval and evaluating every eval, with the given lines after it (a
// throttle section), into a fresh directory; it returns the file and the
// directory, for the storage path.
func gatewayConfig(t *testing.T, addr, scrape, eval, rest string) (file, dir string) {
	t.Helper()
	dir = t.TempDir()
	file = filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, file, `global: {scrape_interval: `+scrape+`, evaluation_interval: `+eval+`}
scrape_configs:
  - job_name: gateway
    static_configs: [{targets: ["`+addr+`"]}]
`+rest)
	return file, dir
}

// activeThrottles lists GET /admin/throttles as "instance state".
func (d *daemon) activeThrottles() []string {
	d.t.Helper()
	var active struct {
		Items []struct {
			InstanceID string `json:"instance_id"`
			State      string `json:"state"`
		} `json:"items"`
	}
	d.getJSON("/admin/throttles", &active)
	var out []string
	for _, it := range active.Items {
		out = append(out, it.InstanceID+" "+it.State)
	}
	return out
}

// reconcileOnce asks the daemon for a reconcile and returns its
// differences as instance → kind/action.
func reconcileOnce(t *testing.T, d *daemon) map[string]string {
	t.Helper()
	resp, body := d.send("POST", "/admin/throttles/reconcile", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reconcile: %d %s", resp.StatusCode, body)
	}
	var r struct {
		Supported   bool `json:"supported"`
		Differences []struct {
			Kind       string `json:"kind"`
			InstanceID string `json:"instance_id"`
			Action     string `json:"action"`
		} `json:"differences"`
	}
	if err := json.Unmarshal(body, &r); err != nil || !r.Supported {
		t.Fatalf("reconcile answered %s (%v)", body, err)
	}
	out := map[string]string{}
	for _, x := range r.Differences {
		out[x.InstanceID] = x.Kind + "/" + x.Action
	}
	return out
}

// TestThrottleOperations runs issue 18's operations against gatewaysim as
// a process: an orphan left by timed-out calls is adopted by reconcile, a
// throttle the gateway lost in a restart is applied again while the
// anomaly lasts, and the kill switch releases every throttle within one
// verification interval and throttles nothing while off.
func TestThrottleOperations(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	sim := startSim(t, addr, "--throttle-latency=1500ms")
	cfg, dir := gatewayConfig(t, addr, "1s", "1s", `throttle:
  gateway: {url: "http://`+addr+`", timeout: 300ms, max_attempts: 2, retry_backoff: 10ms}
  reconcile: {interval: 0s}
  stable_window: 10m
  blast_radius: {max_plugin_ratio: 1}
`)
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))

	// An orphan: both attempts time out, the gateway applies the first.
	sim.spike("i1")
	d.eventually("the timed-out apply in force at the gateway", func() bool { return sim.throttled()["i1"] > 0 })
	d.eventually("the decision marked failed", func() bool {
		_, body := d.send("GET", "/admin/throttles/history?instance_id=i1", "", "")
		return strings.Contains(string(body), `"result":"failed"`)
	})
	if got := reconcileOnce(t, d); got["i1"] != "orphan/adopted" {
		t.Fatalf("reconcile of the orphan: %v", got)
	}
	if active := d.activeThrottles(); len(active) != 1 || active[0] != "i1 throttled" {
		t.Fatalf("after adoption: %v", active)
	}

	// A gateway restart loses the throttle; the anomaly goes on.
	sim.kill()
	sim = startSim(t, addr)
	sim.spike("i1")
	if got := reconcileOnce(t, d); got["i1"] != "missing/reapplied" {
		t.Fatalf("reconcile after the restart: %v", got)
	}
	d.eventually("the lost throttle applied again", func() bool { return sim.throttled()["i1"] > 0 })

	// The kill switch.
	sim.spike("i2")
	sim.spike("i3")
	d.eventually("three instances throttled", func() bool { return len(sim.throttled()) == 3 })
	resp, body := d.send("PUT", "/admin/throttles/automation", `{"enabled":false,"reason":"incident 42","by":"alice"}`, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"released":3`) {
		t.Fatalf("disable: %d %s", resp.StatusCode, body)
	}
	off := time.Now()
	d.eventually("every throttle released", func() bool { return len(sim.throttled()) == 0 })
	if took := time.Since(off); took > 5*time.Second {
		t.Errorf("the releases took %v, more than one verification interval", took)
	}
	sim.spike("i4")
	time.Sleep(5 * time.Second) // five evaluations of a firing anomaly: nothing may be throttled
	if got := sim.throttled(); len(got) != 0 {
		t.Fatalf("throttled while the automation is off: %v", got)
	}
	_, body = d.send("GET", "/admin/throttles/history?instance_id=i4", "", "")
	if !strings.Contains(string(body), `"result":"automation_disabled"`) {
		t.Fatalf("the anomaly while off is not an alert-only decision: %s", body)
	}
	var state struct {
		Enabled   bool   `json:"enabled"`
		Reason    string `json:"reason"`
		ChangedBy string `json:"changed_by"`
	}
	d.getJSON("/admin/throttles/automation", &state)
	if state.Enabled || state.Reason != "incident 42" || state.ChangedBy != "user:alice" {
		t.Fatalf("automation state %+v", state)
	}
	if resp, body := d.send("PUT", "/admin/throttles/automation", `{"enabled":true}`, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("enable: %d %s", resp.StatusCode, body)
	}
	// The evaluator re-sends a firing alert every minute: that re-send is
	// the fresh decision.
	for deadline := time.Now().Add(75 * time.Second); len(sim.throttled()) != 4; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the four anomalies not throttled again a minute after the automation came back: %v", sim.throttled())
		}
	}
}
