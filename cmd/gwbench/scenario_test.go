package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/rules"
)

// TestRuleFileLoads: the evaluate scenario's rules are valid gatewarden
// rules, in groups of 100 over 10 expressions.
func TestRuleFileLoads(t *testing.T) {
	if _, err := rules.Parse([]byte(ruleFile(250)), "rules.yml"); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(ruleFile(250), "- alert:"); n != 250 {
		t.Errorf("%d rules", n)
	}
	if n := strings.Count(ruleFile(250), "  - name: "); n != 3 {
		t.Errorf("%d groups, want 3", n)
	}
	exprs := map[string]bool{}
	for _, line := range strings.Split(ruleFile(1000), "\n") {
		if e, ok := strings.CutPrefix(strings.TrimSpace(line), "expr: "); ok {
			exprs[e] = true
		}
	}
	if len(exprs) != 10 {
		t.Errorf("%d distinct expressions, want 10", len(exprs))
	}
	if _, err := rules.Parse([]byte(detectRules), "rules.yml"); err != nil {
		t.Errorf("detect rules: %v", err)
	}
}

func TestAlertBodies(t *testing.T) {
	v2 := alertBodies("v2", 250, 100)
	if len(v2) != 3 {
		t.Fatalf("%d bodies, want 3", len(v2))
	}
	var batch []map[string]any
	if err := json.Unmarshal(v2[2], &batch); err != nil || len(batch) != 50 {
		t.Fatalf("last v2 body: %d alerts, %v", len(batch), err)
	}
	var hook struct {
		Version string           `json:"version"`
		Alerts  []map[string]any `json:"alerts"`
	}
	wh := alertBodies("webhook", 10, 1)
	if err := json.Unmarshal(wh[9], &hook); err != nil || hook.Version != "4" || len(hook.Alerts) != 1 {
		t.Fatalf("webhook body: %+v, %v", hook, err)
	}
	seen := map[string]bool{}
	for _, b := range alertBodies("v2", 1000, 1) {
		seen[string(b)] = true
	}
	if len(seen) != 1000 {
		t.Errorf("%d distinct alerts of 1000", len(seen))
	}
}

func TestPopulationFor(t *testing.T) {
	for _, n := range []int{10_000, 100_000, 300_000} {
		// Within half a master's series (1,766) of n, 9 % at 10k.
		if got := populationFor(n).series(); got < n*91/100 || got > n*109/100 {
			t.Errorf("populationFor(%d) exposes %d series", n, got)
		}
	}
	// docs/benchmarks.md's figures at 57 masters: 99,547 series then,
	// 100,692 with the key and provider gauges.
	if got := populationFor(100_000); got.masters != 57 || got.series() != 100_692 {
		t.Errorf("100k: %d masters, %d series", got.masters, got.series())
	}
}

func TestFloodBody(t *testing.T) {
	var alerts []struct {
		Labels      map[string]string
		Annotations map[string]string
		EndsAt      time.Time
	}
	if err := json.Unmarshal(floodBody(95, 105, 640), &alerts); err != nil || len(alerts) != 10 {
		t.Fatalf("%d alerts, %v", len(alerts), err)
	}
	for i, a := range alerts {
		size := 0
		for _, m := range []map[string]string{a.Labels, a.Annotations} {
			for k, v := range m {
				size += len(k) + len(v)
			}
		}
		if want := fmt.Sprintf("m%d", 95+i); a.Labels["master"] != want || a.Labels["alertname"] != fmt.Sprintf("Flood%02d", (95+i)%20) || size != 640 || a.EndsAt.Year() != 2099 {
			t.Errorf("alert %d: %v, %d bytes", i, a.Labels, size)
		}
	}
}

func TestNeutralTarget(t *testing.T) {
	target, err := startNeutralTarget(1000)
	if err != nil {
		t.Fatal(err)
	}
	defer target.stop()
	scrape := func() map[string]float64 {
		resp, err := http.Get("http://" + target.addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, m := range fams["neutral_requests_total"].GetMetric() {
			var key strings.Builder
			for _, l := range m.GetLabel() {
				key.WriteString(l.GetName() + "=" + l.GetValue() + ",")
			}
			out[key.String()] = m.GetCounter().GetValue()
		}
		return out
	}
	first, second := scrape(), scrape()
	if len(first) != 1000 || len(second) != 1000 {
		t.Fatalf("%d and %d distinct series, want 1000", len(first), len(second))
	}
	for k, v := range first {
		if second[k] <= v {
			t.Fatalf("%s went from %g to %g: every value must change", k, v, second[k])
		}
	}
}
