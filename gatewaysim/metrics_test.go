package gatewaysim

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

func TestExpositionHasTheContract(t *testing.T) {
	h := newHarness(t, nil)
	h.step(5)
	got := h.scrape()

	contract := map[string][]string{
		"gateway_requests_total":                  {"code", "key", "master", "model", "provider"},
		"gateway_tokens_total":                    {"direction", "key", "master", "model", "provider"},
		"gateway_request_duration_seconds_count":  {"master", "model", "provider"},
		"gateway_request_duration_seconds_sum":    {"master", "model", "provider"},
		"gateway_request_duration_seconds_bucket": {"le", "master", "model", "provider"},
		"gateway_spend_usd_total":                 {"master"},
		"gateway_master_budget_usd":               {"master", "period"},
		"gateway_master_limit_rpm":                {"master"},
		"gateway_master_limit_tpm":                {"master"},
		"gateway_master_limit_rpd":                {"master"},
		"gateway_master_limit_tpd":                {"master"},
		"gateway_key_enabled":                     {"key", "master"},
		"gateway_key_expires_timestamp_seconds":   {"key", "master"},
		"gateway_provider_up":                     {"provider"},
		"gateway_plugin_cpu_usage_ratio":          {"instance_id", "plugin_id", "tenant_id"},
		"gateway_plugin_max_concurrency":          {"instance_id", "plugin_id", "tenant_id"},
	}
	values := map[string]map[string]bool{}
	for name, want := range contract {
		n := 0
		for _, s := range got {
			if s.lset.Get(labels.MetricName) != name {
				continue
			}
			n++
			var names []string
			s.lset.Range(func(l labels.Label) {
				if l.Name != labels.MetricName {
					names = append(names, l.Name)
					if values[l.Name] == nil {
						values[l.Name] = map[string]bool{}
					}
					values[l.Name][l.Value] = true
				}
			})
			if !slices.Equal(names, want) {
				t.Fatalf("%s has labels %v, want %v", s.lset, names, want)
			}
		}
		if n == 0 {
			t.Errorf("no %s series", name)
		}
	}
	wantValues := map[string][]string{
		"master":      {"m1", "m2", "m3"},
		"key":         {"m1-k1", "m1-k2", "m2-k1", "m2-k2", "m3-k1", "m3-k2"},
		"provider":    {"anthropic", "openai"},
		"model":       {"model-1", "model-2"},
		"code":        {"200", "400", "429", "500", "503"},
		"direction":   {"input", "output"},
		"period":      {"monthly"},
		"tenant_id":   {"t1", "t2"},
		"plugin_id":   {"t1-plugin1", "t1-plugin2", "t2-plugin1", "t2-plugin2"},
		"instance_id": {"i1", "i2"},
	}
	for name, want := range wantValues {
		var have []string
		for v := range values[name] {
			have = append(have, v)
		}
		slices.Sort(have)
		if !slices.Equal(have, want) {
			t.Errorf("label %s has values %v, want %v", name, have, want)
		}
	}
	if v := got.sum("gateway_plugin_max_concurrency", "tenant_id", "t1", "plugin_id", "t1-plugin1", "instance_id", "i1"); v != defaultMaxCon {
		t.Errorf("max_concurrency starts at %g, want %d", v, defaultMaxCon)
	}
}

func TestSeriesCountMatchesExposition(t *testing.T) {
	for _, mutate := range []func(*Options){
		nil,
		func(o *Options) {
			o.Masters, o.KeysPerMaster, o.Providers, o.Models = 2, 3, 6, 5
			o.Tenants, o.PluginsPerTenant, o.InstancesPerPlugin = 1, 3, 4
		},
		func(o *Options) {
			o.Masters, o.KeysPerMaster, o.Providers, o.Models = 1, 1, 1, 1
			o.Tenants, o.PluginsPerTenant, o.InstancesPerPlugin = 1, 1, 1
		},
	} {
		h := newHarness(t, mutate)
		h.step(3)
		if got, want := len(h.scrape()), h.sim.opts.SeriesCount(); got != want {
			t.Errorf("%+v: exposed %d series, SeriesCount says %d", h.sim.opts, got, want)
		}
	}
}

func TestSeriesCountOfTheBenchmarkPopulation(t *testing.T) {
	if got := benchOptions().SeriesCount(); got != 176_600+5+16+selfSeries {
		t.Errorf("SeriesCount = %d, doc comment says 176600 plus provider, plugin and self series", got)
	}
}

// TestCountersNeverDecrease scrapes through bursts and a scenario change and
// checks every counter-like series, and that requests and tokens stay whole.
func TestCountersNeverDecrease(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.BurstsPerHour = 60 })
	prev := map[string]float64{}
	for round := range 30 {
		if round == 10 {
			h.startScenario(`{"name":"error-burst"}`)
		}
		h.step(10)
		for _, s := range h.scrape() {
			name := s.lset.Get(labels.MetricName)
			if !isCounterSeries(name) {
				continue
			}
			id := s.lset.String()
			if s.v < prev[id] {
				t.Fatalf("%s went from %g to %g", id, prev[id], s.v)
			}
			if (name == "gateway_requests_total" || name == "gateway_tokens_total") && s.v != math.Trunc(s.v) {
				t.Fatalf("%s = %g, not a whole number", id, s.v)
			}
			prev[id] = s.v
		}
	}
	got := h.scrape()
	for _, name := range []string{"gateway_requests_total", "gateway_tokens_total", "gateway_spend_usd_total", "gateway_request_duration_seconds_count"} {
		if got.sum(name) <= 0 {
			t.Errorf("%s did not grow in 300 steps", name)
		}
	}
	if req, cnt := got.sum("gateway_requests_total"), got.sum("gateway_request_duration_seconds_count"); req != cnt {
		t.Errorf("%g requests but %g latencies observed", req, cnt)
	}
}

func isCounterSeries(name string) bool {
	for _, suffix := range []string{"_total", "_bucket", "_count", "_sum"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

func TestSameSeedSameExposition(t *testing.T) {
	expose := func() []byte {
		h := newHarness(t, func(o *Options) { o.BurstsPerHour = 30 })
		h.step(120)
		return h.do("GET", "/metrics", "").Body.Bytes()
	}
	if a, b := expose(), expose(); !bytes.Equal(a, b) {
		t.Error("two sims with one seed exposed different metrics")
	}
}

// TestServedOverHTTP scrapes a real listener as Prometheus would: OpenMetrics
// negotiated, gzip-compressed.
func TestServedOverHTTP(t *testing.T) {
	h := newHarness(t, nil)
	h.step(2)
	srv := httptest.NewServer(h.sim.Handler())
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", ce)
	}
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("Content-Type %q, want OpenMetrics", ct)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := parseExposition(t, body, ct).count("gateway_requests_total"); got != 3*2*2*2*len(codes) {
		t.Errorf("%d request series over OpenMetrics, want %d", got, 3*2*2*2*len(codes))
	}
	for _, path := range []string{"/-/healthy", "/-/ready"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
}

func TestRunStepsUntilCanceled(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Tick = time.Millisecond; o.Now = nil })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.sim.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := h.scrape().sum("gatewaysim_steps_total"); got < 1 {
		t.Errorf("Run took %g steps in 50 ms at a 1 ms tick", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, mutate := range map[string]func(*Options){
		"no masters":    func(o *Options) { o.Masters = 0 },
		"no tick":       func(o *Options) { o.Tick = 0 },
		"fail rate":     func(o *Options) { o.ThrottleFailRate = 1.5 },
		"bad glob":      func(o *Options) { o.ThrottleUnsupported = []string{"["} },
		"too large":     func(o *Options) { o.Masters, o.KeysPerMaster, o.Providers, o.Models = 1000, 1000, 10, 10 },
		"bad scenario":  func(o *Options) { o.Scenarios = []ScenarioRequest{{Name: "meteor"}} },
		"bad bursts":    func(o *Options) { o.BurstsPerHour = -1 },
		"neg latency":   func(o *Options) { o.ThrottleLatency = -time.Second },
		"huge provider": func(o *Options) { o.Providers = 2_000_000 },
	} {
		opts := DefaultOptions()
		mutate(&opts)
		if _, err := New(opts, nil); err == nil {
			t.Errorf("%s: New accepted %+v", name, opts)
		}
	}
}
