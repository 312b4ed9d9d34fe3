package gatewaysim

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/promslog"
)

// Sim is a simulated gateway. Step advances it; Handler serves its metrics,
// scenarios and throttle endpoint; both are safe to use concurrently.
type Sim struct {
	opts   Options
	logger *slog.Logger
	now    func() time.Time
	reg    *prometheus.Registry
	mx     *metrics
	mux    *http.ServeMux

	// Each concern draws from its own stream, so a scenario that changes how
	// many latencies are observed never shifts the traffic's random walk: two
	// sims with one seed differ only by what their scenarios do.
	traffic, observe, plugins, faults *rand.Rand

	mu         sync.Mutex
	masters    []master
	masterIdx  map[string]int
	providers  map[string]int
	providerUp []prometheus.Gauge // per provider: gateway_provider_up
	instances  []instance
	instIdx    map[instanceKey]int
	throttled  map[int]struct{} // indices of instances under a throttle
	scenarios  []*Scenario
	nextID     int
	idempotent idempotencyStore

	// endpoint is non-nil while an outage without a target takes /metrics
	// down; the scrape path reads it without taking mu.
	endpoint atomic.Pointer[endpointOutage]

	sinks sinks
}

type endpointOutage struct {
	hang bool
	done chan struct{} // closed when the outage ends
}

// New builds the population, registers every series and starts
// opts.Scenarios. A nil logger discards logs.
func New(opts Options, logger *slog.Logger) (*Sim, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = promslog.NewNopLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	stream := func(i uint64) *rand.Rand { return rand.New(rand.NewPCG(opts.Seed, i)) }
	s := &Sim{
		opts:       opts,
		logger:     logger,
		now:        opts.Now,
		reg:        prometheus.NewRegistry(),
		traffic:    stream(1),
		observe:    stream(2),
		plugins:    stream(3),
		faults:     stream(4),
		masterIdx:  make(map[string]int, opts.Masters),
		providers:  make(map[string]int, opts.Providers),
		instIdx:    make(map[instanceKey]int),
		throttled:  make(map[int]struct{}),
		idempotent: newIdempotencyStore(),
	}
	s.mx = newMetrics(s.reg)
	traits := stream(0)
	start := s.now()
	s.masters = make([]master, opts.Masters)
	for i := range s.masters {
		s.masters[i] = newMaster(&s.opts, i, traits, start)
		s.masters[i].bind(s.mx, &s.opts)
		s.masterIdx[s.masters[i].name] = i
	}
	for p := range opts.Providers {
		s.providers[providerName(p)] = p
		up := s.mx.provUp.WithLabelValues(providerName(p))
		up.Set(1)
		s.providerUp = append(s.providerUp, up)
	}
	s.instances = newInstances(&s.opts, s.mx, traits)
	for i := range s.instances {
		s.instIdx[s.instances[i].key()] = i
	}
	for _, req := range opts.Scenarios {
		if _, err := s.StartScenario(req); err != nil {
			return nil, fmt.Errorf("scenario %q: %w", req.Name, err)
		}
	}
	s.sinks = sinks{secret: opts.SinkSecret, now: opts.Now}
	s.mux = s.routes()
	return s, nil
}

// Handler serves /metrics, /sim/scenario, /internal/gateway/throttle and
// the /-/healthy and /-/ready probes.
func (s *Sim) Handler() http.Handler { return s.mux }

// Run steps the simulation every Tick until ctx is done.
func (s *Sim) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.Step(s.now())
		}
	}
}

// Step advances the simulation by one Tick, as of now: traffic follows now's
// place on the daily curve, throttles and idempotency keys expire against it,
// and budget-ramps move by it.
func (s *Sim) Step(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dt := s.opts.Tick.Seconds()
	s.expireThrottles(now)
	s.idempotent.prune(now)
	for i := range s.masters {
		s.stepMaster(&s.masters[i], now, dt)
	}
	s.stepBudgetRamps(now)
	s.stepTraces(now)
	for i := range s.instances {
		s.stepInstance(&s.instances[i], dt)
	}
	for _, sc := range s.scenarios {
		if sc.EffectiveAt.IsZero() {
			sc.EffectiveAt = now
		}
	}
	s.mx.steps.Inc()
}

func (s *Sim) stepMaster(m *master, now time.Time, dt float64) {
	// A fixed number of draws per master and step keeps the traffic stream
	// aligned across sims whatever their scenarios do.
	m.walk = clamp(m.walk*(1-dt/walkRevert)+walkSigma*math.Sqrt(dt)*s.traffic.NormFloat64(), -walkBound, walkBound)
	u := s.traffic.Float64()
	if !now.Before(m.burstUntil) {
		m.burst = 1
		if u < s.opts.BurstsPerHour*dt/3600 {
			m.burst = 2 + 2*s.traffic.Float64()
			m.burstUntil = now.Add(time.Duration(30+90*s.traffic.Float64()) * time.Second)
		}
	}

	shares := codeShares(m.fx.errorRatio, m.fx.limitRatio)
	down := downShares(m.fx.limitRatio)
	tokenFactor := 1.0
	var rps float64
	if q := m.fx.quota; q > 0 {
		rps = q * m.limits[limitRPM] / 60 * (1 + quotaJitter*m.walk)
		// Tokens per request follow so TPM sits at the same fraction of its
		// limit as RPM does.
		tokenFactor = m.limits[limitTPM] / (m.limits[limitRPM] * shares[codeOK] * m.okTokens)
	} else {
		rps = m.baseRPS * diurnal(now, m.phase) * math.Exp(m.walk) * m.burst * m.fx.trafficFactor
	}

	expected := rps * dt
	clear(m.served)
	m.markLive(unixSeconds(now))
	perKey := len(m.served) // routes are key × (provider × model)
	var usd float64
	for i := range m.routes {
		// A disabled or expired key's requests never reach the gateway's
		// counters: its routes stand still, carries and all.
		if !m.live[i/perKey] {
			continue
		}
		rt := &m.routes[i]
		lat := i % perKey
		sh := &shares
		if m.fx.providerDown[lat/s.opts.Models] {
			sh = &down
		}
		n := expected * rt.weight
		var served, ok float64
		for c := range codes {
			k := addWhole(&rt.reqAcc[c], n*sh[c], rt.req[c])
			served += k
			if c == codeOK {
				ok = k
			}
		}
		m.served[lat] += served
		if ok == 0 {
			continue
		}
		prof := profileOf(i % s.opts.Models)
		in := addWhole(&rt.tokAcc[0], ok*prof.inTokens*tokenFactor, rt.tok[0])
		out := addWhole(&rt.tokAcc[1], ok*prof.outTokens*tokenFactor, rt.tok[1])
		usd += in*prof.inPrice + out*prof.outPrice
	}
	if usd > 0 {
		m.spend.Add(usd)
		m.spent += usd
	}
	s.observeLatencies(m)
}

// unixSeconds is t as a timestamp gauge holds it.
func unixSeconds(t time.Time) float64 {
	return float64(t.Unix()) + float64(t.Nanosecond())/1e9
}

// addWhole adds v to the carry *acc and moves its whole part to c, so
// counters of requests and tokens stay integers however small a route's
// share of a step is.
func addWhole(acc *float64, v float64, c prometheus.Counter) float64 {
	*acc += v
	k := math.Floor(*acc)
	if k > 0 {
		*acc -= k
		c.Add(k)
	}
	return k
}

// observeLatencies observes one log-normal latency per request served this
// step. A latency-spike pins the P95 at its seconds by moving the median.
func (s *Sim) observeLatencies(m *master) {
	for i, n := range m.served {
		if n == 0 {
			continue
		}
		median := profileOf(i % s.opts.Models).latency
		if p95 := m.fx.latencyP95[i/s.opts.Models]; p95 > 0 {
			median = p95 / math.Exp(latencySigma*z95)
		}
		obs := m.latency[i]
		for range int(n) {
			obs.Observe(median * math.Exp(latencySigma*s.observe.NormFloat64()))
		}
	}
}

func (s *Sim) stepInstance(in *instance, dt float64) {
	in.load = clamp(in.load+cpuSigma*math.Sqrt(dt)*s.plugins.NormFloat64()-(in.load-in.center)*dt/cpuRevert, cpuMin, cpuMax)
	jitter := spikeJitter * (2*s.plugins.Float64() - 1)
	load, floor := in.load, cpuFloor
	switch {
	case in.traced:
		// A replay shows the recorded value as it was, however low.
		load, floor = in.trace, math.Min(cpuFloor, in.trace)
	case in.spike > 0:
		load = math.Min(1, in.spike+jitter)
	}
	// Fewer concurrent calls means proportionally less CPU.
	in.cpu.Set(math.Max(floor, load*float64(in.limit)/float64(in.orig)))
}
