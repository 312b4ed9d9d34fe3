package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/promapi"
)

// t0 is a Monday noon; the recorded data starts there.
var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

const (
	span = 6 * time.Minute
	step = 10 * time.Second
)

// record writes what gatewarden would have scraped every 10 s (3 s into
// each step, as a scrape's phase) for six minutes: the CPU and limit (64)
// of instances i1 and i2 of plugin p1. The spiking instances are at 0.95
// for five samples from minute 1, everything else at 0.3. The DB is left
// open for the caller to read or close.
func record(t *testing.T, dir string, spiking ...string) *tsdb.DB {
	t.Helper()
	db, err := tsdb.Open(dir, nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	app := db.Appender(context.Background())
	for i := 0; time.Duration(i)*step <= span; i++ {
		ts := t0.Add(time.Duration(i)*step + 3*time.Second).UnixMilli()
		for _, inst := range []string{"i1", "i2"} {
			cpu := 0.3
			if slices.Contains(spiking, inst) && i >= 6 && i < 11 {
				cpu = 0.95
			}
			id := []string{"tenant_id", "t1", "plugin_id", "p1", "instance_id", inst}
			for name, v := range map[string]float64{"gateway_plugin_cpu_usage_ratio": cpu, "gateway_plugin_max_concurrency": 64} {
				if _, err := app.Append(0, labels.FromStrings(append(id, "__name__", name)...), ts, v); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	return db
}

// recorded is record's data closed, as a stopped daemon leaves it in its
// storage path, which it returns.
func recorded(t *testing.T, spiking ...string) string {
	storage := filepath.Join(t.TempDir(), "data")
	if err := record(t, filepath.Join(storage, "tsdb"), spiking...).Close(); err != nil {
		t.Fatal(err)
	}
	return storage
}

// throttleConfig is the built-in rule pack (no rule_files) with a
// throttle policy; extra is added to the throttle section.
func throttleConfig(t *testing.T, extra string) *config.Config {
	t.Helper()
	cfg, err := config.Load([]byte("throttle:\n  gateway: {url: \"http://127.0.0.1:1\"}\n"+extra), "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func backtest(t *testing.T, o Options) *Report {
	t.Helper()
	o.From, o.To = t0, t0.Add(span)
	o.Step = step
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", text.String())
	return rep
}

// alertStates lists rule's state changes for instance, "state@offset".
func alertStates(rep *Report, rule, instance string) []string {
	var out []string
	for _, a := range rep.Alerts {
		if a.Rule == rule && a.Labels["instance_id"] == instance {
			out = append(out, a.State+"@"+a.Time.Sub(t0).String())
		}
	}
	return out
}

// throttleActions lists what the controller did for instance,
// "action/result max_concurrency@offset".
func throttleActions(rep *Report, instance string) []string {
	var out []string
	for _, e := range rep.Throttles {
		if e.InstanceID == instance {
			out = append(out, e.Action+"/"+e.Result+" "+strconv.Itoa(e.MaxConcurrency)+"@"+e.Time.Sub(t0).String())
		}
	}
	return out
}

// TestSpikeFiresThrottlesAndReleases backtests the built-in pack and a
// throttle policy over a recorded spike: the third high sample fires
// PluginCPUHigh and throttles the instance to half its limit; CPU back
// under 0.7 for the stable window (2m) releases it; the observation
// window (1m after three low samples) resolves the alert. A threshold of
// 0.99 fires nothing.
func TestSpikeFiresThrottlesAndReleases(t *testing.T) {
	data := recorded(t, "i1")
	rep := backtest(t, Options{Config: throttleConfig(t, ""), StoragePath: data})
	if got, want := alertStates(rep, "PluginCPUHigh", "i1"), []string{"firing@1m30s", "resolved@3m20s"}; !slices.Equal(got, want) {
		t.Errorf("PluginCPUHigh on i1: %v, want %v", got, want)
	}
	if got := alertStates(rep, "PluginCPUHigh", "i2"); len(got) > 0 {
		t.Errorf("PluginCPUHigh on i2, never high: %v", got)
	}
	// Low from the sample at 1m53s, first read by the Tick at 2m: the
	// stable window ends at 4m. The alert's resolution, re-sent a minute
	// later, ends the episode.
	want := []string{"decide/throttle 32@1m30s", "apply/ok 32@1m30s", "release/ok 64@4m0s", "clear/recovered 0@4m20s"}
	if got := throttleActions(rep, "i1"); !slices.Equal(got, want) {
		t.Errorf("throttle of i1: %v, want %v", got, want)
	}
	if n := len(rep.GatewayCalls); n != 2 || !rep.GatewayCalls[1].Release {
		t.Errorf("gateway calls: %+v, want an apply and a release", rep.GatewayCalls)
	}

	quiet := backtest(t, Options{Config: throttleConfig(t, ""), StoragePath: data,
		Rules: []string{"PluginCPUHigh"}, Sets: []Set{{"value", "0.99"}}})
	if len(quiet.Alerts) > 0 || len(quiet.Throttles) > 0 || len(quiet.GatewayCalls) > 0 {
		t.Errorf("with value=0.99: alerts %v, throttles %v", quiet.Alerts, quiet.Throttles)
	}
	if !slices.Equal(quiet.Rules, []string{"PluginCPUHigh"}) {
		t.Errorf("rules evaluated: %v", quiet.Rules)
	}
}

// TestPolicyLimitsShow: a dry run is reported as one and calls nothing,
// an exempt instance is alert only, and the blast radius caps one of two
// simultaneous anomalies.
func TestPolicyLimitsShow(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		spiking      []string
		want         map[string][]string
		text         string
		calls        int
	}{
		{"dry run", "  dry_run: true\n", []string{"i1"},
			map[string][]string{"i1": {"decide/dry_run 32@1m30s", "clear/dry_run 0@3m20s"}}, "dry run: would throttle", 0},
		{"exempt", "  exempt: [{instance_id: i1}]\n", []string{"i1"},
			map[string][]string{"i1": {"decide/exempt 0@1m30s", "clear/exempt 0@3m20s"}}, "alert only: exempt", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := backtest(t, Options{Config: throttleConfig(t, tc.policy), StoragePath: recorded(t, tc.spiking...), Rules: []string{"PluginCPUHigh"}})
			for inst, want := range tc.want {
				if got := throttleActions(rep, inst); !slices.Equal(got, want) {
					t.Errorf("%s: %v, want %v", inst, got, want)
				}
			}
			if len(rep.GatewayCalls) != tc.calls {
				t.Errorf("gateway calls: %+v, want %d", rep.GatewayCalls, tc.calls)
			}
			var text bytes.Buffer
			_ = rep.WriteText(&text)
			if !strings.Contains(text.String(), tc.text) {
				t.Errorf("the report does not say %q", tc.text)
			}
		})
	}
	// Which of two anomalies of one evaluation comes first is the
	// evaluator's order, as live: one is throttled, the other capped.
	t.Run("blast radius", func(t *testing.T) {
		rep := backtest(t, Options{Config: throttleConfig(t, "  blast_radius: {max_instances: 1}\n"), StoragePath: recorded(t, "i1", "i2"), Rules: []string{"PluginCPUHigh"}})
		got := [][]string{throttleActions(rep, "i1"), throttleActions(rep, "i2")}
		throttled := []string{"decide/throttle 32@1m30s", "apply/ok 32@1m30s", "release/ok 64@4m0s", "clear/recovered 0@4m20s"}
		capped := []string{"decide/blast_radius 0@1m30s", "clear/blast_radius 0@3m20s"}
		if !slices.Equal(got[0], throttled) {
			slices.Reverse(got)
		}
		if !slices.Equal(got[0], throttled) || !slices.Equal(got[1], capped) {
			t.Errorf("i1 %v, i2 %v: want one %v and the other %v", got[0], got[1], throttled, capped)
		}
		if len(rep.GatewayCalls) != 2 {
			t.Errorf("gateway calls: %+v", rep.GatewayCalls)
		}
	})
}

// engineAPI answers instant queries as a gatewarden's API would, from a
// local TSDB, for the --url path.
type engineAPI struct {
	engine *promql.Engine
	q      storage.Queryable
}

func (a engineAPI) Query(ctx context.Context, query string, ts time.Time, _ ...promv1.Option) (model.Value, promv1.Warnings, error) {
	qry, err := a.engine.NewInstantQuery(ctx, a.q, nil, query, ts)
	if err != nil {
		return nil, nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, nil, res.Err
	}
	out := model.Matrix{}
	for _, s := range res.Value.(promql.Matrix) {
		ss := &model.SampleStream{Metric: model.Metric{}}
		s.Metric.Range(func(l labels.Label) { ss.Metric[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
		for _, p := range s.Floats {
			ss.Values = append(ss.Values, model.SamplePair{Timestamp: model.Time(p.T), Value: model.SampleValue(p.F)})
		}
		out = append(out, ss)
	}
	return out, nil, nil
}

// TestURLAgreesWithStorage: samples copied from a daemon's API give the
// report the TSDB directory gives (here a TSDB directory itself, not a
// storage path with one inside).
func TestURLAgreesWithStorage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db := record(t, dir, "i1")
	remote := backtest(t, Options{Config: throttleConfig(t, ""), API: engineAPI{promapi.NewEngine(nil, nil, 0, 0), db}})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	local := backtest(t, Options{Config: throttleConfig(t, ""), StoragePath: dir})
	if a, b := summary(remote), summary(local); a != b || !strings.Contains(a, "apply/ok") {
		t.Errorf("from the API:\n%s\nfrom the directory:\n%s", a, b)
	}
}

// summary is a report without what differs between runs (idempotency
// keys are random, and in no report).
func summary(rep *Report) string {
	var b strings.Builder
	for _, a := range rep.Alerts {
		b.WriteString(a.Time.Format(time.TimeOnly) + " " + a.Rule + a.ls.String() + " " + a.State + "\n")
	}
	for _, e := range rep.Throttles {
		b.WriteString(e.Time.Format(time.TimeOnly) + " " + e.Instance.String() + " " + e.Action + "/" + e.Result + "\n")
	}
	return b.String()
}

func TestJSONReport(t *testing.T) {
	rep := backtest(t, Options{Config: throttleConfig(t, ""), StoragePath: recorded(t, "i1"), Rules: []string{"PluginCPUHigh"}})
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Step   string `json:"step"`
		Alerts []struct {
			Rule, State string
			Labels      map[string]string
			Threshold   *float64
		}
		Throttles []struct {
			InstanceID string `json:"instance_id"`
			Action     string
		}
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Step != "10s" || len(got.Alerts) != 2 || got.Alerts[0].Labels["instance_id"] != "i1" || got.Alerts[0].Threshold == nil ||
		*got.Alerts[0].Threshold != 0.8 || len(got.Throttles) != 4 || got.Throttles[1].Action != "apply" {
		t.Errorf("JSON report:\n%s", buf.String())
	}
}

// TestBadRequests: unknown rules and fields, and sets that do not fit a
// rule, are refused with what is wrong.
func TestBadRequests(t *testing.T) {
	if _, err := ParseSet("threshold=1"); err == nil || !strings.Contains(err.Error(), `unknown field "threshold"`) {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := ParseSet("value"); err == nil {
		t.Error("no value: accepted")
	}
	for _, tc := range []struct {
		rules []string
		sets  []Set
		want  string
	}{
		{[]string{"NoSuchRule"}, nil, "--rule NoSuchRule: no such alerting rule"},
		{[]string{"master:gateway_requests:increase1m"}, nil, "is a recording rule"},
		{nil, []Set{{"value", "1"}}, "--set needs --rule"},
		{[]string{"GatewayTargetDown"}, []Set{{"value", "1"}}, "no condition"},
		{[]string{"PluginCPUHigh"}, []Set{{"function", "median"}}, `unknown window function "median"`},
		{[]string{"PluginCPUHigh"}, []Set{{"window", "three"}}, `invalid window "three"`},
		{[]string{"PluginCPUHigh"}, []Set{{"level.warning", "1"}}, "no warning level"},
	} {
		_, err := Run(context.Background(), Options{Config: throttleConfig(t, ""), StoragePath: t.TempDir(),
			From: t0, To: t0.Add(time.Minute), Rules: tc.rules, Sets: tc.sets})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: %v, want %q", tc.rules, tc.sets, err, tc.want)
		}
	}
}
