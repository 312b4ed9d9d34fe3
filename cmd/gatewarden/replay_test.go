package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

// ctlBinary builds gatewardenctl once, to record a trace from the daemon
// as an operator would.
var ctlBinary = sync.OnceValues(func() (string, error) {
	return buildTool("gatewardenctl", ".", "github.com/gatewarden/gatewarden/cmd/gatewardenctl", "")
})

// replaySpeed plays a 10 s row of a trace in one second.
const replaySpeed = 10

// replayRig starts a gatewarden with the built-in PluginCPUHigh rule
// (three evaluations in a row above 0.8) and a throttle section, then
// gatewaysim as a process replaying gatewaysim/testdata/file from its
// start (--scenario.trace), and returns both and the running trace. A
// replayed row lasts 1 s; evaluations 1.5 s apart over scrapes every
// 250 ms keep the margins wide: two rows over the threshold show for at
// most about 2.5 s of scrapes, less than the 3 s three evaluations take,
// and eight rows for more than four evaluations, however the clocks fall.
func replayRig(t *testing.T, file string) (*simProcess, *daemon, gatewaysim.Scenario) {
	t.Helper()
	addr := freeAddr(t)
	cfg, dir := gatewayConfig(t, addr, "250ms", "1500ms", `throttle:
  gateway: {url: "http://`+addr+`"}
`)
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	trace, err := filepath.Abs(filepath.Join("..", "..", "gatewaysim", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	sim := startSim(t, addr, "--scenario.trace="+trace, "--scenario.trace.speed="+strconv.Itoa(replaySpeed))
	running := sim.scenarios()
	if len(running) != 1 || running[0].Name != "cpu-trace" {
		t.Fatalf("scenarios after --scenario.trace: %+v", running)
	}
	return sim, d, running[0]
}

// scenarios lists the simulator's running scenarios.
func (s *simProcess) scenarios() []gatewaysim.Scenario {
	s.t.Helper()
	resp, err := http.Get("http://" + s.addr + "/sim/scenario")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct{ Scenarios []gatewaysim.Scenario }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		s.t.Fatal(err)
	}
	return list.Scenarios
}

// TestReplayedSpikeIsThrottled replays a recorded spike (i1 above 0.9 for
// eight samples): gatewarden throttles i1 at the gateway and leaves i2,
// which the trace keeps normal, alone. gatewardenctl then records the
// replay back from gatewarden, and that recording replays too.
func TestReplayedSpikeIsThrottled(t *testing.T) {
	t.Parallel()
	sim, d, sc := replayRig(t, "spike.csv")
	d.eventually("i1 throttled at the gateway", func() bool { _, ok := sim.throttled()["i1"]; return ok })
	if th := sim.throttled(); len(th) != 1 {
		t.Fatalf("throttles at the gateway: %v, want i1's alone", th)
	}

	ctl, err := ctlBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ctl, "throttle", "record", "--url", d.url,
		"--from", strconv.FormatInt(sc.StartedAt.Add(-time.Second).Unix(), 10), "--to", time.Now().UTC().Format(time.RFC3339Nano),
		"--tenant_id", "t1", "--plugin_id", "t1-plugin1", "--instance_id", "i1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("gatewardenctl throttle record: %v: %s", err, errOut.String())
	}
	tr, err := gatewaysim.ParseTrace("recorded", strings.NewReader(out.String()))
	if err != nil {
		t.Fatalf("the recorded trace does not parse: %v\n%s", err, out.String())
	}
	high := 0
	for _, p := range tr.Series[0].Points {
		if p.CPU >= 0.95 {
			high++
		}
	}
	if len(tr.Series) != 1 || high < 4 {
		t.Fatalf("recorded %d series with %d samples at 0.95 or more, want i1's spike:\n%s", len(tr.Series), high, out.String())
	}
	body, _ := json.Marshal(gatewaysim.ScenarioRequest{Name: "cpu-trace", Trace: out.String()})
	resp, err := http.Post("http://"+sim.addr+"/sim/scenario", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if running := sim.scenarios(); resp.StatusCode != http.StatusOK || len(running) != 1 || running[0].Status["instances"] != 1 {
		t.Fatalf("replaying the recording: %s, running %+v", resp.Status, running)
	}
	d.stop()
}

// TestReplayedFalsePositiveIsNotThrottled replays a recorded false
// positive (i1 above 0.9 for two samples, then normal): gatewarden sees
// the values and throttles nothing.
func TestReplayedFalsePositiveIsNotThrottled(t *testing.T) {
	t.Parallel()
	sim, d, sc := replayRig(t, "false-positive.csv")
	end := sc.StartedAt.Add(time.Duration(sc.Status["length_seconds"] / replaySpeed * float64(time.Second)))
	d.eventually("the trace played to its end", func() bool { return len(sim.scenarios()) == 0 })
	// Two more evaluations over the trace's last values.
	time.Sleep(time.Until(end.Add(3 * time.Second)))
	if peak := d.scalar(`max_over_time(gateway_plugin_cpu_usage_ratio{plugin_id="t1-plugin1",instance_id="i1"}[1m])`); peak < 0.9 {
		t.Fatalf("gatewarden saw i1 at %g at most; the replay did not reach it", peak)
	}
	if th := sim.throttled(); len(th) != 0 {
		t.Fatalf("throttled at the gateway: %v", th)
	}
	var active struct{ Items []json.RawMessage }
	d.getJSON("/admin/throttles", &active)
	if len(active.Items) != 0 {
		t.Fatalf("gatewarden holds throttles: %s", active.Items)
	}
	d.stop()
}
