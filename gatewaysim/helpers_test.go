package gatewaysim

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/gatewarden/gatewarden/internal/testclock"
)

// start is a Monday noon, so the daily curve is near its mean.
var start = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

type harness struct {
	t   testing.TB
	sim *Sim
	clk *testclock.Clock
}

// newHarness builds a sim on an injected clock, with bursts off so rates
// measured over a few minutes are the scenario's doing.
func newHarness(t testing.TB, mutate func(*Options)) *harness {
	t.Helper()
	clk := testclock.New(start)
	opts := DefaultOptions()
	opts.BurstsPerHour = 0
	opts.Now = clk.Now
	if mutate != nil {
		mutate(&opts)
	}
	s, err := New(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, sim: s, clk: clk}
}

// step advances the clock and the sim n ticks.
func (h *harness) step(n int) {
	for range n {
		h.sim.Step(h.clk.Advance(h.sim.opts.Tick))
	}
}

// do sends a request straight to the handler; header is name, value pairs.
func (h *harness) do(method, path, body string, header ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.sim.Handler().ServeHTTP(rec, req)
	return rec
}

// doJSON sends a request and decodes a JSON answer with the wanted status.
func (h *harness) doJSON(method, path, body string, wantStatus int, out any, header ...string) {
	h.t.Helper()
	rec := h.do(method, path, body, header...)
	if rec.Code != wantStatus {
		h.t.Fatalf("%s %s %s: status %d, want %d: %s", method, path, body, rec.Code, wantStatus, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			h.t.Fatalf("%s %s: decoding %q: %v", method, path, rec.Body, err)
		}
	}
}

func (h *harness) startScenario(body string) Scenario {
	h.t.Helper()
	var sc Scenario
	h.doJSON("POST", "/sim/scenario", body, http.StatusOK, &sc)
	return sc
}

func (h *harness) scrape() samples {
	h.t.Helper()
	rec := h.do("GET", "/metrics", "")
	if rec.Code != http.StatusOK {
		h.t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	return parseExposition(h.t, rec.Body.Bytes(), rec.Header().Get("Content-Type"))
}

type sample struct {
	lset labels.Labels
	v    float64
}

type samples []sample

// parseExposition parses with Prometheus' own scrape parser, so the sim is
// checked against what a scrape actually reads.
func parseExposition(t testing.TB, body []byte, contentType string) samples {
	t.Helper()
	p, err := textparse.New(body, contentType, labels.NewSymbolTable(), textparse.ParserOptions{})
	if err != nil {
		t.Fatalf("parser for %q: %v", contentType, err)
	}
	var out samples
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("parsing exposition: %v", err)
		}
		if e != textparse.EntrySeries {
			continue
		}
		_, _, v := p.Series()
		var l labels.Labels
		p.Labels(&l)
		out = append(out, sample{l, v})
	}
}

// matches reports whether a sample has the metric name and every
// label=value pair in match.
func (s sample) matches(name string, match []string) bool {
	if s.lset.Get(labels.MetricName) != name {
		return false
	}
	for i := 0; i+1 < len(match); i += 2 {
		if s.lset.Get(match[i]) != match[i+1] {
			return false
		}
	}
	return true
}

func (ss samples) sum(name string, match ...string) float64 {
	var total float64
	for _, s := range ss {
		if s.matches(name, match) {
			total += s.v
		}
	}
	return total
}

func (ss samples) count(name string, match ...string) int {
	n := 0
	for _, s := range ss {
		if s.matches(name, match) {
			n++
		}
	}
	return n
}

// buckets sums a histogram's cumulative bucket counts by upper bound.
func (ss samples) buckets(name string, match ...string) map[float64]float64 {
	out := map[float64]float64{}
	for _, s := range ss {
		if s.matches(name+"_bucket", match) {
			le, err := strconv.ParseFloat(s.lset.Get("le"), 64)
			if err != nil {
				panic(err)
			}
			out[le] += s.v
		}
	}
	return out
}

// quantile estimates a quantile of the observations between two scrapes,
// interpolating within buckets as histogram_quantile does.
func quantile(q float64, before, after samples, name string, match ...string) float64 {
	b0, b1 := before.buckets(name, match...), after.buckets(name, match...)
	bounds := slices.Sorted(maps.Keys(b1))
	rank := q * (b1[math.Inf(1)] - b0[math.Inf(1)])
	lower, below := 0.0, 0.0
	for _, le := range bounds {
		n := b1[le] - b0[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return lower
			}
			return lower + (le-lower)*(rank-below)/(n-below)
		}
		lower, below = le, n
	}
	return math.NaN()
}

func itoa(i int) string { return strconv.Itoa(i) }
