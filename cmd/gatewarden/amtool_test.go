package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatewarden/gatewarden/receiver"
)

// amtoolBinary builds Alertmanager's amtool from the pinned module once
// (internal/amtool; no download), stamped with the module's version as a
// release is, so it makes its version check against the daemon.
var amtoolBinary = sync.OnceValues(func() (string, error) {
	return buildTool("amtool", ".", "github.com/gatewarden/gatewarden/internal/amtool",
		"-X github.com/prometheus/common/version.Version="+receiver.AlertmanagerVersion)
})

// promtoolBinary builds Prometheus's promtool of the pinned release once,
// from tools/prometheus (a module of its own: promtool's service-discovery
// dependencies stay out of gatewarden's; make test-deps downloads them and
// warms the build cache).
var promtoolBinary = sync.OnceValues(func() (string, error) {
	return buildTool("promtool", "../../tools/prometheus", "github.com/prometheus/prometheus/cmd/promtool", "")
})

// buildTool builds pkg in the module at dir into a temporary directory.
func buildTool(name, dir, pkg, ldflags string) (string, error) {
	tmp, err := os.MkdirTemp("", name+"-bin")
	if err != nil {
		return "", err
	}
	bin, err := filepath.Abs(filepath.Join(tmp, name))
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", ldflags, pkg)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{name, err, out}
	}
	return bin, nil
}

type buildError struct {
	name string
	err  error
	out  []byte
}

func (e *buildError) Error() string {
	return "building " + e.name + ": " + e.err.Error() + "\n" + string(e.out)
}

// amtoolRig runs amtool against a daemon with the ingest token, as an
// operator's amtool config would.
type amtoolRig struct {
	t          *testing.T
	bin, url   string
	httpConfig string
}

func (r amtoolRig) run(args ...string) string {
	r.t.Helper()
	out, errOut, err := r.try(args...)
	if err != nil {
		r.t.Fatalf("amtool %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	if errOut != "" {
		r.t.Errorf("amtool %s wrote to stderr: %s", strings.Join(args, " "), errOut)
	}
	return out
}

func (r amtoolRig) try(args ...string) (string, string, error) {
	cmd := exec.Command(r.bin, append([]string{"--alertmanager.url=" + r.url, "--http.config.file=" + r.httpConfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// amtoolConfig routes critical alerts to pager (a webhook whose URL holds
// a token), inhibits warnings of a master with a critical alert, and has
// the ingest token for amtool.
func amtoolConfig(t *testing.T, dir string) string {
	cfg := accessConfig(t, dir, allTokens, "", "")
	cfg = cfg[:strings.Index(cfg, "receiver:")] + `receiver:
  route:
    receiver: team
    group_by: [alertname]
    group_wait: 1h
    routes:
      - matchers: ['severity="critical"']
        receiver: pager
  receivers:
    - name: team
    - name: pager
      webhook_configs: [{url: "http://127.0.0.1:1/hook/` + planted["config url"] + `"}]
  inhibit_rules:
    - source_matchers: ['severity="critical"']
      target_matchers: ['severity="warning"']
      equal: [master]
`
	writeConfig(t, filepath.Join(dir, "amtool-http.yml"), "authorization: {credentials_file: ingest.token}\n")
	return cfg
}

// TestAmtool drives every amtool 0.34 command that talks to an
// Alertmanager against the daemon, and check-config on the config the
// daemon shows. On the commit before it, alert query, config and cluster
// were 404 and a refused alert's reason came out as a decoding error.
func TestAmtool(t *testing.T) {
	t.Parallel()
	bin, err := amtoolBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, amtoolConfig(t, dir))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	am := amtoolRig{t: t, bin: bin, url: d.url, httpConfig: filepath.Join(dir, "amtool-http.yml")}

	am.run("alert", "add", "Crit", "severity=critical", "master=m1", "--annotation=summary=master m1 is down")
	am.run("alert", "add", "Warn", "severity=warning", "master=m1")
	am.run("alert", "add", "Quiet", "severity=warning", "master=m2")
	d.eventually("the alerts held", func() bool { return strings.Count(am.run("alert", "query", "-a", "-i", "-s"), "\n") == 4 })
	id := strings.TrimSpace(am.run("silence", "add", "alertname=Quiet", "-c", "maintenance", "-a", "ops"))

	for _, tc := range []struct {
		args       []string
		want, fail []string
	}{
		{[]string{"alert", "query"}, []string{"Crit", "master m1 is down", "active"}, []string{"Warn", "Quiet"}},
		{[]string{"alert"}, []string{"Crit"}, []string{"Warn"}},
		{[]string{"alert", "query", "-i"}, []string{"Warn", "suppressed"}, []string{"Crit", "Quiet"}},
		{[]string{"alert", "query", "-s"}, []string{"Quiet"}, []string{"Crit", "Warn"}},
		{[]string{"alert", "query", "-a", "-s", "-i"}, []string{"Crit", "Warn", "Quiet"}, nil},
		{[]string{"alert", "query", "--receiver=pager", "-a", "-i", "-s"}, []string{"Crit"}, []string{"Warn", "Quiet"}},
		{[]string{"alert", "query", "-i", "-a", `master="m1"`}, []string{"Crit", "Warn"}, []string{"Quiet"}},
		{[]string{"alert", "query", "Warn", "-i"}, []string{"Warn"}, []string{"Crit"}},
		{[]string{"alert", "query", "-o", "extended"}, []string{`alertname="Crit" master="m1" severity="critical"`}, nil},
		{[]string{"silence", "query"}, []string{id, `alertname="Quiet"`, "ops", "maintenance"}, nil},
		{[]string{"silence", "query", "-q"}, []string{id}, []string{"maintenance"}},
		{[]string{"config", "show"}, []string{"receiver: team", "url: <secret>", "inhibit_rules"}, []string{planted["config url"]}},
		{[]string{"config", "routes"}, []string{"default-route  receiver: team", `{severity="critical"}  receiver: pager`}, nil},
		{[]string{"config", "routes", "test", "severity=critical"}, []string{"pager"}, nil},
		{[]string{"config", "routes", "test", "--verify.receivers=team", "severity=info"}, []string{"team"}, nil},
		{[]string{"cluster", "show"}, []string{"Cluster Status:  disabled"}, nil},
	} {
		out := am.run(tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("amtool %s lacks %q:\n%s", strings.Join(tc.args, " "), w, out)
			}
		}
		for _, f := range tc.fail {
			if strings.Contains(out, f) {
				t.Errorf("amtool %s has %q:\n%s", strings.Join(tc.args, " "), f, out)
			}
		}
	}

	// The config shown is one Alertmanager's own check takes.
	shown := filepath.Join(dir, "shown.yml")
	writeConfig(t, shown, am.run("config", "show"))
	if out := am.run("check-config", shown); !strings.Contains(out, "SUCCESS") {
		t.Errorf("check-config of the shown config: %s", out)
	}

	// Silences: update, export, expire, import.
	if out := am.run("silence", "update", id, "-c", "longer maintenance", "-d", "2h"); !strings.Contains(out, id) {
		t.Errorf("silence update: %s", out)
	}
	exported := filepath.Join(dir, "silences.json")
	writeConfig(t, exported, am.run("silence", "query", "-o", "json"))
	am.run("silence", "expire", id)
	if out := am.run("silence", "query"); strings.Contains(out, id) {
		t.Errorf("expired silence still listed: %s", out)
	}
	if out := am.run("silence", "query", "--expired"); !strings.Contains(out, "longer maintenance") {
		t.Errorf("the expired silence is not among the expired: %s", out)
	}
	am.run("silence", "import", "--force", exported)
	if out := am.run("silence", "query"); !strings.Contains(out, "longer maintenance") {
		t.Errorf("imported silence not listed: %s", out)
	}

	// A refused alert: amtool prints the reason.
	_, errOut, err := am.try("alert", "add", "Bad", "--start=2026-01-02T00:00:00Z", "--end=2026-01-01T00:00:00Z")
	if err == nil || !strings.Contains(errOut, "postAlertsBadRequest") || !strings.Contains(errOut, "is before startsAt") {
		t.Errorf("amtool alert add of an alert ending before it starts: %v %s", err, errOut)
	}
	// Without the token's role: amtool says so.
	writeConfig(t, am.httpConfig, "authorization: {credentials_file: read.token}\n")
	if _, errOut, err := am.try("silence", "add", "alertname=X", "-c", "x"); err == nil || !strings.Contains(errOut, "403") {
		t.Errorf("amtool silence add with a read token: %v %s", err, errOut)
	}
	d.stop()
}
