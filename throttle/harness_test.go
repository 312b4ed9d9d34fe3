package throttle

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/gatewaysim"
	"github.com/gatewarden/gatewarden/internal/testclock"
	"github.com/gatewarden/gatewarden/store"
)

// The tests run the controller against the real parts: gatewaysim as the
// gateway (in-process, behind httptest, applying throttles to its
// simulated CPU), a SQLite store on a temp dir, and the built-in
// PluginCPUHigh rule's own window conditions deciding when the alert
// fires. Time is one injected clock shared by the sim and the controller;
// nothing sleeps for minutes.

// start is a Monday noon, as in gatewaysim's tests.
var start = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

const simTick = 10 * time.Second // the built-in rules count samples 10 s apart

// front stands between the controller and the sim: it counts PATCHes and
// their keys, fails the first few, delays answers, and tracks how many
// are in flight at once.
type front struct {
	next http.Handler

	mu       sync.Mutex
	keys     []string // of every PATCH, in arrival order
	fail     int      // answer this many PATCHes with failStatus first
	failWith int
	delay    int // hold this many answers (after the sim applied them) for hold
	lie      int // answer this many 200 without passing them on
	hold     time.Duration
	arrived  chan string // the key of each PATCH, if set
	at       []time.Time // arrival of each PATCH

	inflight, maxInflight atomic.Int64
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPatch {
		f.next.ServeHTTP(w, r)
		return
	}
	n := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for m := f.maxInflight.Load(); n > m && !f.maxInflight.CompareAndSwap(m, n); m = f.maxInflight.Load() {
	}
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	f.keys = append(f.keys, key)
	f.at = append(f.at, time.Now())
	fail, status := f.fail > 0, f.failWith
	if fail {
		f.fail--
	}
	hold := f.delay > 0
	if hold {
		f.delay--
	}
	lie := f.lie > 0
	if lie {
		f.lie--
	}
	arrived := f.arrived
	f.mu.Unlock()
	if arrived != nil {
		arrived <- key
	}
	if fail {
		http.Error(w, `{"error":"injected"}`, status)
		return
	}
	if lie {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"max_concurrency":32,"previous_max_concurrency":64}`)
		return
	}
	// The sim applies the call whatever happens to its answer, as a
	// gateway whose answer is lost on the way back.
	body, _ := io.ReadAll(r.Body)
	rec := httptest.NewRecorder()
	r2 := r.Clone(context.WithoutCancel(r.Context()))
	r2.Body = io.NopCloser(bytes.NewReader(body))
	f.next.ServeHTTP(rec, r2)
	if hold {
		select {
		case <-time.After(f.hold):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (f *front) patches() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.keys...)
}

// simSampler reads the sim's /metrics as a scrape would. live re-reads on
// every call; otherwise it answers from the last scrape, as the TSDB does.
type simSampler struct {
	sim  *gatewaysim.Sim
	live bool

	mu     sync.Mutex
	cpu    map[Instance]float64
	maxCon map[Instance]float64
}

// scrapeFamilies reads the sim's /metrics in the text format.
func scrapeFamilies(t testing.TB, sim *gatewaysim.Sim) map[string]*dto.MetricFamily {
	rec := httptest.NewRecorder()
	sim.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parsing the sim's metrics: %v", err)
	}
	return fams
}

func (s *simSampler) scrape(t testing.TB) {
	fams := scrapeFamilies(t, s.sim)
	read := func(name string) map[Instance]float64 {
		out := map[Instance]float64{}
		for _, m := range fams[name].GetMetric() {
			var inst Instance
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "tenant_id":
					inst.TenantID = l.GetValue()
				case "plugin_id":
					inst.PluginID = l.GetValue()
				case "instance_id":
					inst.InstanceID = l.GetValue()
				}
			}
			out[inst] = m.GetGauge().GetValue()
		}
		return out
	}
	cpu, maxCon := read("gateway_plugin_cpu_usage_ratio"), read("gateway_plugin_max_concurrency")
	s.mu.Lock()
	s.cpu, s.maxCon = cpu, maxCon
	s.mu.Unlock()
}

// cpus is the last scrape's CPU of every instance.
func (s *simSampler) cpus() map[Instance]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cpu
}

func (s *simSampler) get(which func() map[Instance]float64, inst Instance) (float64, bool, error) {
	if s.live {
		s.scrape(nopTB{})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := which()[inst]
	return v, ok, nil
}

func (s *simSampler) CPU(_ context.Context, inst Instance) (float64, bool, error) {
	return s.get(func() map[Instance]float64 { return s.cpu }, inst)
}

func (s *simSampler) MaxConcurrency(_ context.Context, inst Instance) (float64, bool, error) {
	return s.get(func() map[Instance]float64 { return s.maxCon }, inst)
}

func (s *simSampler) PluginInstances(context.Context) (map[Plugin]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[Plugin]int{}
	for inst := range s.cpu {
		out[inst.plugin()]++
	}
	return out, nil
}

// nopTB lets a live read from inside the controller skip t: the sim's
// exposition is well-formed, which scrape(t) checks everywhere else.
type nopTB struct{ testing.TB }

func (nopTB) Fatalf(string, ...any) {}

// notices records what the controller alerts.
type notices struct {
	mu  sync.Mutex
	all []Notice
}

func (n *notices) Notify(_ context.Context, ns []Notice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.all = append(n.all, ns...)
	return nil
}

// with returns the notices of status for the instance ("" any instance);
// resolved ones too.
func (n *notices) with(status string, inst Instance) []Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Notice
	for _, x := range n.all {
		if x.Labels["status"] == status && (inst == Instance{} || instanceOf(x.Labels) == inst) {
			out = append(out, x)
		}
	}
	return out
}

// harness is one gatewarden throttle against one sim.
type harness struct {
	t       testing.TB
	clk     *testclock.Clock
	sim     *gatewaysim.Sim
	front   *front
	srv     *httptest.Server
	sampler *simSampler
	det     *detector
	dbPath  string
	st      *store.Store
	reg     *prometheus.Registry
	ctl     *Controller
	notes   *notices
	policy  config.ThrottlePolicy
	opts    Options
}

type setup struct {
	sim    func(*gatewaysim.Options)
	policy func(*config.ThrottlePolicy)
	opts   func(*Options)
	// snapshot answers the Sampler from the last scrape, as the TSDB
	// would, instead of re-reading the sim on every call: for large sims.
	snapshot bool
	// keepFiring makes the detector honour the rule's keep_firing_for,
	// as the evaluator does; off, an alert resolves on recovery alone.
	keepFiring bool
}

func newHarness(t testing.TB, s setup) *harness {
	t.Helper()
	clk := testclock.New(start)
	so := gatewaysim.DefaultOptions()
	so.BurstsPerHour, so.Now, so.Tick = 0, clk.Now, simTick
	if s.sim != nil {
		s.sim(&so)
	}
	sim, err := gatewaysim.New(so, nil)
	if err != nil {
		t.Fatal(err)
	}
	det := newDetector(t)
	if !s.keepFiring {
		det.keep = 0
	}
	h := &harness{t: t, clk: clk, sim: sim, front: &front{next: sim.Handler()}, det: det,
		dbPath: filepath.Join(t.TempDir(), "gatewarden.db")}
	h.srv = httptest.NewServer(h.front)
	t.Cleanup(h.srv.Close)
	h.sampler = &simSampler{sim: sim, live: !s.snapshot}
	h.sampler.scrape(t)
	if s.policy != nil {
		s.policy(&h.policy)
	}
	h.opts = Options{Timeout: time.Second, RetryBackoff: time.Millisecond, VerifyTimeout: time.Second}
	if s.opts != nil {
		s.opts(&h.opts)
	}
	h.st, err = store.Open(context.Background(), store.Options{Path: h.dbPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.st.Close() })
	h.start()
	return h
}

// start builds a controller on the harness's store, as a (re)started
// daemon would, and loads the stored state.
func (h *harness) start() {
	h.t.Helper()
	pol, err := NewPolicy(h.policy)
	if err != nil {
		h.t.Fatal(err)
	}
	gw := NewHTTPGatewayClient(h.srv.URL+config.DefaultThrottlePath, h.srv.Client())
	o := h.opts
	o.Gateway, o.Lister, o.Sampler, o.Store, o.Clock, o.Policy = gw, gw, h.sampler, h.st, h.clk, pol
	h.notes = &notices{}
	h.reg = prometheus.NewRegistry()
	o.Notifier, o.Registerer = h.notes, h.reg
	h.ctl, err = New(o)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { h.ctl.Close() })
	if err := h.ctl.Load(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// step is one scrape interval: the sim steps, the rule evaluates on the
// new samples and hands its alerts to Observe, and the controller ticks.
// It returns the events of the evaluation.
func (h *harness) step() []Event {
	h.t.Helper()
	now := h.clk.Advance(simTick)
	h.sim.Step(now)
	h.sampler.scrape(h.t)
	events := h.det.eval(h.sampler.cpus(), now)
	h.ctl.Observe(context.Background(), events)
	h.drain()
	h.ctl.Tick(context.Background())
	h.drain()
	return events
}

func (h *harness) steps(n int) {
	for range n {
		h.step()
	}
}

func (h *harness) drain() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.ctl.Drain(ctx); err != nil {
		h.t.Fatalf("the controller did not settle: %v", err)
	}
}

func (h *harness) spike(insts ...Instance) { h.spikeAt(0.95, insts...) }

func (h *harness) spikeAt(value float64, insts ...Instance) {
	h.t.Helper()
	for _, i := range insts {
		req := gatewaysim.ScenarioRequest{Name: "cpu-spike", Target: gatewaysim.Target{TenantID: i.TenantID, PluginID: i.PluginID, InstanceID: i.InstanceID},
			Params: map[string]float64{"value": value}}
		if _, err := h.sim.StartScenario(req); err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) cpu(inst Instance) float64 {
	v, _, _ := h.sampler.CPU(context.Background(), inst)
	return v
}

func (h *harness) simThrottle(inst Instance) (gatewaysim.Throttle, bool) {
	for _, th := range h.sim.Throttles() {
		if th.TenantID == inst.TenantID && th.PluginID == inst.PluginID && th.InstanceID == inst.InstanceID {
			return th, true
		}
	}
	return gatewaysim.Throttle{}, false
}

func (h *harness) active(inst Instance) (Throttle, bool) {
	for _, th := range h.ctl.Active() {
		if th.Instance == inst {
			return th, true
		}
	}
	return Throttle{}, false
}

// audits returns the instance's audit records, oldest first.
func (h *harness) audits(inst Instance) []store.ThrottleAudit {
	h.t.Helper()
	items, _, err := h.ctl.History(context.Background(), store.AuditFilter{TenantID: inst.TenantID, PluginID: inst.PluginID,
		InstanceID: inst.InstanceID, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	return items
}

var (
	t1p1i1 = Instance{"t1", "t1-plugin1", "i1"}
	t1p1i2 = Instance{"t1", "t1-plugin1", "i2"}
	t2p1i1 = Instance{"t2", "t2-plugin1", "i1"}
)
