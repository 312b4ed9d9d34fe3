package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
)

// spikeData records instance i1's CPU every 10 s for six minutes from
// start: 0.95 for five samples from minute 1, 0.3 otherwise, with a
// limit of 64.
func spikeData(t *testing.T, start time.Time) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	db, err := tsdb.Open(dir, nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	app := db.Appender(context.Background())
	id := []string{"tenant_id", "t1", "plugin_id", "p1", "instance_id", "i1"}
	for i := range 37 {
		cpu := 0.3
		if i >= 6 && i < 11 {
			cpu = 0.95
		}
		ts := start.Add(time.Duration(i) * 10 * time.Second).UnixMilli()
		_, err1 := app.Append(0, labels.FromStrings(append(id, "__name__", "gateway_plugin_cpu_usage_ratio")...), ts, cpu)
		_, err2 := app.Append(0, labels.FromStrings(append(id, "__name__", "gateway_plugin_max_concurrency")...), ts, 64)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestRulesBacktest(t *testing.T) {
	start := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	data := spikeData(t, start)
	cfg := filepath.Join(t.TempDir(), "gatewarden.yml")
	writeRules(t, cfg, "throttle:\n  gateway: {url: \"http://gateway:8080\"}\n")
	args := []string{"rules", "backtest", "--config.file=" + cfg, "--storage.path=" + data,
		"--from=2026-03-02T12:00:00Z", "--to=" + start.Add(6*time.Minute).Format(time.RFC3339), "--step=10s", "--rule=PluginCPUHigh"}

	var out, errOut bytes.Buffer
	if code := run(args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	t.Logf("\n%s", out.String())
	for _, want := range []string{
		"2026-03-02T12:01:20Z  firing    PluginCPUHigh{instance_id=\"i1\", plugin_id=\"p1\", severity=\"critical\", tenant_id=\"t1\"}  value 0.95 (threshold 0.8)",
		"2026-03-02T12:01:20Z  throttle  t1/p1/i1",
		"applied max_concurrency 32",
		"released: max_concurrency 64 restored",
		"PluginCPUHigh: fired 1, resolved 1",
		"throttle: 1 applied, 0 stepped, 1 released",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}

	out.Reset()
	if code := run(append(args, "--output=json", "--set=value=0.99"), &out, &errOut); code != 0 {
		t.Fatalf("json: exit %d: %s", code, errOut.String())
	}
	var rep struct {
		Rules  []string
		Alerts []any
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Rules) != 1 || len(rep.Alerts) != 0 {
		t.Errorf("json with value=0.99: %v\n%s", err, out.String())
	}
}

func TestRulesBacktestUsage(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "gatewarden.yml")
	writeRules(t, cfg, "global: {}\n")
	base := []string{"rules", "backtest", "--config.file=" + cfg, "--from=now-1h"}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--storage.path=x", "--set=threshold=1", "--rule=PluginCPUHigh"}, 2, `unknown field "threshold"`},
		{[]string{"--storage.path=x", "--to=yesterday"}, 2, `--to: "yesterday" is no time`},
		{nil, 2, "--storage.path or --url"},
		{[]string{"--storage.path=x", "--url=http://127.0.0.1:1"}, 2, "--storage.path or --url"},
		{[]string{"--storage.path=" + t.TempDir(), "--rule=NoSuchRule"}, 1, "no such alerting rule"},
	} {
		var out, errOut bytes.Buffer
		if code := run(append(base, tc.args...), &out, &errOut); code != tc.code || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %d, %q", tc.args, code, errOut.String(), tc.code, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                  now,
		"now-7d":               now.Add(-7 * 24 * time.Hour),
		"2026-03-01T10:00:00Z": time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		"1772445600":           time.Unix(1772445600, 0),
		"1772445600.5":         time.UnixMilli(1772445600500),
	} {
		if got, err := parseTime(in, now); err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
}
