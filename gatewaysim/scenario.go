package gatewaysim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ScenarioRequest starts a scenario: the body of POST /sim/scenario and the
// JSON form of --scenario.
type ScenarioRequest struct {
	Name   string             `json:"name"`
	Target Target             `json:"target,omitzero"`
	Params map[string]float64 `json:"params,omitempty"`
	// Trace is a cpu-trace's CSV, inline (see ParseTrace).
	Trace string `json:"trace,omitempty"`
	// TraceName names Trace in errors: the file --scenario.trace read it
	// from; "trace" when empty.
	TraceName string `json:"-"`
}

// Target narrows a scenario to a master (and, for latency-spike, a
// provider; for key-disable and key-expiry, one of its keys), to a provider
// (provider-outage) or to one plugin instance. The zero Target means every
// master or instance, and for outage the whole /metrics endpoint.
type Target struct {
	Master     string `json:"master,omitempty"`
	Key        string `json:"key,omitempty"`
	Provider   string `json:"provider,omitempty"`
	TenantID   string `json:"tenant_id,omitempty"`
	PluginID   string `json:"plugin_id,omitempty"`
	InstanceID string `json:"instance_id,omitempty"`
}

// String names the target for logs: "master=m1 key=m1-k2", or "all".
func (t Target) String() string {
	var parts []string
	for _, kv := range [][2]string{{"master", t.Master}, {"key", t.Key}, {"provider", t.Provider},
		{"tenant_id", t.TenantID}, {"plugin_id", t.PluginID}, {"instance_id", t.InstanceID}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "all"
	}
	return strings.Join(parts, " ")
}

// Scenario is a running scenario, as GET /sim/scenario lists it. Params
// include the defaults of those left out.
type Scenario struct {
	ID        int                `json:"id"`
	Name      string             `json:"name"`
	Target    Target             `json:"target,omitzero"`
	Params    map[string]float64 `json:"params"`
	StartedAt time.Time          `json:"started_at"`
	// EffectiveAt is the step that first exposed the scenario's values,
	// up to one tick after StartedAt: the moment an anomaly begins for
	// whoever times its detection.
	EffectiveAt time.Time `json:"effective_at,omitzero"`
	// Status reports progress: a budget-ramp's step and, for one master,
	// its spend as a fraction of the budget.
	Status map[string]float64 `json:"status,omitempty"`

	masters   []int // resolved target
	key       int   // index of the key within each master, for key scenarios
	provider  int   // -1: every provider
	instances []int
	replay    *traceReplay // cpu-trace only
}

type targetKind uint8

const (
	masterTarget targetKind = 1 << iota
	providerTarget
	instanceTarget
	keyTarget   // a key of the master, its first if left out
	traceTarget // the instances a cpu-trace names
)

type scenarioKind struct {
	targets targetKind
	params  map[string]paramSpec
}

type paramSpec struct{ def, min, max float64 }

// scenarioKinds are the scenarios and what each accepts; effects and
// stepBudgetRamps give them their meaning.
var scenarioKinds = map[string]scenarioKind{
	"cpu-spike":     {instanceTarget, map[string]paramSpec{"value": {0.95, 0.01, 1}}},
	"budget-ramp":   {masterTarget, map[string]paramSpec{"duration": {240, 1, 30 * 86400}}},
	"error-burst":   {masterTarget, map[string]paramSpec{"ratio": {0.3, 0, 1}}},
	"latency-spike": {masterTarget | providerTarget, map[string]paramSpec{"seconds": {20, 0.01, 600}}},
	// ratio above 1 runs a master past its limits, as a gateway that counts
	// before it refuses would show them.
	"quota-approach": {masterTarget, map[string]paramSpec{"ratio": {0.92, 0.01, 5}}},
	"traffic-spike":  {masterTarget, map[string]paramSpec{"factor": {3, 0.01, 1000}}},
	"outage":         {masterTarget, map[string]paramSpec{"hang": {0, 0, 1}}},
	"key-disable":    {masterTarget | keyTarget, nil},
	// days may be fractional, and ≤ 0 for a key that has already expired.
	"key-expiry":      {masterTarget | keyTarget, map[string]paramSpec{"days": {3, -30, 3650}}},
	"provider-outage": {providerTarget, nil},
	"rate-limit":      {masterTarget, map[string]paramSpec{"ratio": {0.3, 0, 1}}},
	// speed replays that many trace seconds a second: 10 plays a 10 s
	// agent's samples once a second.
	"cpu-trace": {traceTarget, map[string]paramSpec{"speed": {1, 0.01, 10000}}},
}

// ScenarioNames lists the scenarios, sorted.
func ScenarioNames() []string {
	return slices.Sorted(maps.Keys(scenarioKinds))
}

// isReset reports whether a request stops every scenario instead of
// starting one.
func isReset(name string) bool { return name == "reset" || name == "none" }

// ParseScenarioFlag reads a --scenario value: a bare name ("traffic-spike")
// or a ScenarioRequest as JSON.
func ParseScenarioFlag(v string) (ScenarioRequest, error) {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "{") {
		return ScenarioRequest{Name: v}, nil
	}
	var req ScenarioRequest
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("scenario %s: %w", v, err)
	}
	return req, nil
}

// StartScenario starts a scenario, replacing a running one of the same name
// and target. A request named "reset" or "none" stops every scenario and
// returns nil. Errors name what is wrong with the request.
func (s *Sim) StartScenario(req ScenarioRequest) (*Scenario, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if isReset(req.Name) {
		s.stopScenarios(func(*Scenario) bool { return true })
		return nil, nil
	}
	sc, err := s.resolve(req)
	if err != nil {
		return nil, err
	}
	s.nextID++
	sc.ID = s.nextID
	sc.StartedAt = s.now()
	s.scenarios = slices.DeleteFunc(s.scenarios, func(o *Scenario) bool {
		return o.Name == sc.Name && o.Target == sc.Target
	})
	s.scenarios = append(s.scenarios, sc)
	s.applyScenarios()
	s.logger.Info("scenario started", "id", sc.ID, "name", sc.Name, "target", sc.Target, "params", sc.Params)
	return s.view(sc), nil
}

// StopScenario stops the scenario with the given id, or every scenario for
// id 0; it reports whether any was running.
func (s *Sim) StopScenario(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopScenarios(func(sc *Scenario) bool { return id == 0 || sc.ID == id }) > 0
}

// Scenarios returns the running scenarios in start order.
func (s *Sim) Scenarios() []*Scenario {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Scenario, 0, len(s.scenarios))
	for _, sc := range s.scenarios {
		out = append(out, s.view(sc))
	}
	return out
}

func (s *Sim) stopScenarios(match func(*Scenario) bool) int {
	before := len(s.scenarios)
	s.scenarios = slices.DeleteFunc(s.scenarios, func(sc *Scenario) bool {
		if match(sc) {
			s.logger.Info("scenario stopped", "id", sc.ID, "name", sc.Name, "target", sc.Target)
			return true
		}
		return false
	})
	s.applyScenarios()
	return before - len(s.scenarios)
}

// resolve validates a request against its kind and the population.
func (s *Sim) resolve(req ScenarioRequest) (*Scenario, error) {
	kind, ok := scenarioKinds[req.Name]
	if !ok {
		return nil, fmt.Errorf("unknown scenario %q (known: %s, or reset)", req.Name, strings.Join(ScenarioNames(), ", "))
	}
	sc := &Scenario{Name: req.Name, Target: req.Target, Params: make(map[string]float64, len(kind.params)), provider: -1}
	for name, v := range req.Params {
		spec, ok := kind.params[name]
		if !ok {
			return nil, fmt.Errorf("scenario %s has no parameter %q", req.Name, name)
		}
		if math.IsNaN(v) || v < spec.min || v > spec.max {
			return nil, fmt.Errorf("parameter %s must be within [%g, %g], got %g", name, spec.min, spec.max, v)
		}
		sc.Params[name] = v
	}
	for name, spec := range kind.params {
		if _, ok := sc.Params[name]; !ok {
			sc.Params[name] = spec.def
		}
	}
	if kind.targets == traceTarget {
		if err := s.resolveTrace(sc, req); err != nil {
			return nil, err
		}
	} else if req.Trace != "" {
		return nil, fmt.Errorf("scenario %s takes no trace", req.Name)
	} else if err := s.resolveTarget(sc, kind.targets); err != nil {
		return nil, err
	}
	if hang := sc.Params["hang"]; req.Name == "outage" && hang != 0 && (hang != 1 || sc.Target.Master != "") {
		return nil, errors.New("hang must be 0 or 1, and 1 only for an outage of the whole endpoint")
	}
	return sc, nil
}

func (s *Sim) resolveTarget(sc *Scenario, allowed targetKind) error {
	if err := checkTargetFields(sc.Name, sc.Target, allowed); err != nil {
		return err
	}
	t := sc.Target
	if allowed&instanceTarget != 0 {
		if t == (Target{}) {
			sc.instances = indices(len(s.instances))
			return nil
		}
		idx, ok := s.instIdx[instanceKey{t.TenantID, t.PluginID, t.InstanceID}]
		if !ok {
			return fmt.Errorf("unknown instance tenant_id=%q plugin_id=%q instance_id=%q", t.TenantID, t.PluginID, t.InstanceID)
		}
		sc.instances = []int{idx}
		return nil
	}
	if t.Provider != "" {
		p, ok := s.providers[t.Provider]
		if !ok {
			return fmt.Errorf("unknown provider %q", t.Provider)
		}
		sc.provider = p
	} else if allowed&masterTarget == 0 {
		return fmt.Errorf("scenario %s needs a provider", sc.Name)
	}
	if t.Master == "" {
		// An outage without a master takes down the endpoint, not every
		// master's series.
		if sc.Name != "outage" {
			sc.masters = indices(len(s.masters))
		}
		return nil
	}
	m, ok := s.masterIdx[t.Master]
	if !ok {
		return fmt.Errorf("unknown master %q", t.Master)
	}
	sc.masters = []int{m}
	if allowed&keyTarget != 0 {
		return s.resolveKey(sc, &s.masters[m])
	}
	return nil
}

// checkTargetFields rejects target fields the scenario has no use for,
// before any name is looked up.
func checkTargetFields(name string, t Target, allowed targetKind) error {
	instanceSet := t.TenantID != "" || t.PluginID != "" || t.InstanceID != ""
	targets := "masters"
	if allowed&masterTarget == 0 {
		targets = "providers"
	}
	switch {
	case instanceSet && allowed&instanceTarget == 0:
		return fmt.Errorf("scenario %s targets %s, not plugin instances", name, targets)
	case (t.Master != "" || t.Provider != "" || t.Key != "") && allowed&instanceTarget != 0:
		return fmt.Errorf("scenario %s targets plugin instances, not masters", name)
	case t.Master != "" && allowed&masterTarget == 0:
		return fmt.Errorf("scenario %s takes no master: it affects every master", name)
	case t.Provider != "" && allowed&providerTarget == 0:
		return fmt.Errorf("scenario %s takes no provider", name)
	case t.Key != "" && allowed&keyTarget == 0:
		return fmt.Errorf("scenario %s takes no key", name)
	case t.Key != "" && t.Master == "":
		return fmt.Errorf("scenario %s: key %q needs its master", name, t.Key)
	}
	return nil
}

// resolveKey finds the target's key among the master's, or names the
// master's first key when none is given, so the listed target says which
// key it is and a request naming that key replaces the scenario.
func (s *Sim) resolveKey(sc *Scenario, m *master) error {
	if sc.Target.Key == "" {
		sc.Target.Key = m.keys[0]
		return nil
	}
	k := slices.Index(m.keys, sc.Target.Key)
	if k < 0 {
		return fmt.Errorf("unknown key %q of master %q (it has %s to %s)", sc.Target.Key, m.name, m.keys[0], m.keys[len(m.keys)-1])
	}
	sc.key = k
	return nil
}

func indices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// applyScenarios recomputes every master's and instance's effects from the
// running scenarios, and withdraws or restores series for outages.
func (s *Sim) applyScenarios() {
	for i := range s.masters {
		s.masters[i].fx.reset()
	}
	for i := range s.instances {
		s.instances[i].spike = 0
	}
	var endpoint *endpointOutage
	down := make([]bool, len(s.providerUp))
	for _, sc := range s.scenarios {
		for _, i := range sc.instances {
			in := &s.instances[i]
			in.spike = math.Max(in.spike, sc.Params["value"])
		}
		if sc.Name == "outage" && sc.masters == nil {
			endpoint = &endpointOutage{hang: sc.Params["hang"] == 1}
		}
		if sc.Name == "provider-outage" {
			down[sc.provider] = true
		}
		for _, i := range sc.masters {
			applyEffect(&s.masters[i].fx, sc)
		}
	}
	for i := range s.masters {
		s.setWithdrawn(&s.masters[i])
		s.masters[i].exposeKeys()
	}
	for p, g := range s.providerUp {
		g.Set(boolGauge(!down[p]))
	}
	s.setEndpointOutage(endpoint)
	s.mx.activeScenarios.Set(float64(len(s.scenarios)))
}

// applyEffect adds one scenario to a master's effects. Overlapping scenarios
// combine: traffic factors multiply, the others take the strongest (for
// key-expiry, the earliest expiry).
func applyEffect(fx *effects, sc *Scenario) {
	switch sc.Name {
	case "error-burst":
		fx.errorRatio = math.Max(fx.errorRatio, sc.Params["ratio"])
	case "rate-limit":
		fx.limitRatio = math.Max(fx.limitRatio, sc.Params["ratio"])
	case "key-disable":
		fx.keyDisabled[sc.key] = true
	case "key-expiry":
		at := float64(sc.StartedAt.Unix()) + sc.Params["days"]*86400
		if cur := fx.keyExpires[sc.key]; cur == 0 || at < cur {
			fx.keyExpires[sc.key] = at
		}
	case "provider-outage":
		fx.providerDown[sc.provider] = true
	case "latency-spike":
		for p := range fx.latencyP95 {
			if sc.provider < 0 || sc.provider == p {
				fx.latencyP95[p] = math.Max(fx.latencyP95[p], sc.Params["seconds"])
			}
		}
	case "quota-approach":
		fx.quota = math.Max(fx.quota, sc.Params["ratio"])
	case "traffic-spike":
		fx.trafficFactor *= sc.Params["factor"]
	case "outage":
		fx.outage = true
	}
}

// setWithdrawn deletes a master's children when an outage starts and
// re-creates them when it ends. Steps keep updating the deleted children,
// which no scrape sees, so a step needs no outage check.
func (s *Sim) setWithdrawn(m *master) {
	if m.fx.outage == m.withdrawn {
		return
	}
	m.withdrawn = m.fx.outage
	if m.withdrawn {
		for _, v := range s.mx.masterVecs() {
			v.DeletePartialMatch(prometheus.Labels{"master": m.name})
		}
		return
	}
	m.bind(s.mx, &s.opts)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (s *Sim) setEndpointOutage(next *endpointOutage) {
	cur := s.endpoint.Load()
	if (cur == nil) == (next == nil) && (cur == nil || cur.hang == next.hang) {
		return
	}
	if next != nil {
		next.done = make(chan struct{})
	}
	s.endpoint.Store(next)
	if cur != nil {
		close(cur.done)
	}
}

// stepBudgetRamps moves spend up to the ramp's current step; steps are
// floors, so normal spend on top of them keeps climbing.
func (s *Sim) stepBudgetRamps(now time.Time) {
	for _, sc := range s.scenarios {
		if sc.Name != "budget-ramp" {
			continue
		}
		frac := budgetSteps[rampStep(sc, now)]
		for _, i := range sc.masters {
			m := &s.masters[i]
			if want := frac * m.budgetUSD; m.spent < want {
				m.spend.Add(want - m.spent)
				m.spent = want
			}
		}
	}
}

// rampStep is the index into budgetSteps reached at now: the first at once,
// the last after the scenario's duration.
func rampStep(sc *Scenario, now time.Time) int {
	interval := sc.Params["duration"] / float64(len(budgetSteps)-1)
	step := int(now.Sub(sc.StartedAt).Seconds() / interval)
	return min(max(step, 0), len(budgetSteps)-1)
}

// view copies a scenario for a caller, with its status as of now.
func (s *Sim) view(sc *Scenario) *Scenario {
	v := *sc
	v.Params = maps.Clone(sc.Params)
	if sc.replay != nil {
		v.Status = traceStatus(sc, s.now())
	}
	if sc.Name == "budget-ramp" {
		v.Status = map[string]float64{"step": float64(rampStep(sc, s.now()))}
		if len(sc.masters) == 1 {
			m := &s.masters[sc.masters[0]]
			v.Status["budget_ratio"] = m.spent / m.budgetUSD
		}
	}
	return &v
}
