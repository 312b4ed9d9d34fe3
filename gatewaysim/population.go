package gatewaysim

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the vectors of the contract (see DESIGN.md) and the
// simulator's own series, all on one registry.
type metrics struct {
	requests *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	spend    *prometheus.CounterVec
	budget   *prometheus.GaugeVec
	limits   [numLimits]*prometheus.GaugeVec
	keyOn    *prometheus.GaugeVec
	keyExp   *prometheus.GaugeVec
	provUp   *prometheus.GaugeVec
	cpu      *prometheus.GaugeVec
	maxConc  *prometheus.GaugeVec

	steps            prometheus.Counter
	throttleRequests map[int]prometheus.Counter
	activeScenarios  prometheus.Gauge
	activeThrottles  prometheus.Gauge
}

const (
	limitRPM = iota
	limitTPM
	limitRPD
	limitTPD
	numLimits
)

var limitNames = [numLimits]string{"rpm", "tpm", "rpd", "tpd"}

// throttleCodes are the answers of the throttle endpoint, each counted from
// the start so the series count is fixed.
var throttleCodes = []int{200, 400, 404, 413, 501, 503}

func newMetrics(reg prometheus.Registerer) *metrics {
	instance := []string{"tenant_id", "plugin_id", "instance_id"}
	mx := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_requests_total", Help: "Requests answered by the gateway.",
		}, []string{"master", "key", "provider", "model", "code"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_tokens_total", Help: "Tokens consumed, by direction (input, output).",
		}, []string{"master", "key", "provider", "model", "direction"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gateway_request_duration_seconds", Help: "Upstream request latency.",
			Buckets: LatencyBuckets,
		}, []string{"master", "provider", "model"}),
		spend: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_spend_usd_total", Help: "Spend in US dollars.",
		}, []string{"master"}),
		budget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_master_budget_usd", Help: "Budget of a master key in US dollars per period.",
		}, []string{"master", "period"}),
		keyOn: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_key_enabled", Help: "Whether a key is enabled (1) or disabled (0).",
		}, []string{"master", "key"}),
		keyExp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_key_expires_timestamp_seconds", Help: "When a key expires, in Unix seconds.",
		}, []string{"master", "key"}),
		provUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_provider_up", Help: "Whether an upstream provider answers (1) or is down (0).",
		}, []string{"provider"}),
		cpu: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_plugin_cpu_usage_ratio", Help: "CPU usage of a plugin instance (0–1).",
		}, instance),
		maxConc: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_plugin_max_concurrency", Help: "Concurrency limit of a plugin instance.",
		}, instance),
		steps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewaysim_steps_total", Help: "Simulation steps taken.",
		}),
		activeScenarios: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewaysim_active_scenarios", Help: "Scenarios running.",
		}),
		activeThrottles: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewaysim_active_throttles", Help: "Throttles in force.",
		}),
		throttleRequests: make(map[int]prometheus.Counter, len(throttleCodes)),
	}
	for i, name := range limitNames {
		mx.limits[i] = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gateway_master_limit_" + name, Help: "Rate limit of a master key (" + name + ").",
		}, []string{"master"})
		reg.MustRegister(mx.limits[i])
	}
	throttleRequests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewaysim_throttle_requests_total", Help: "Throttle PATCHes, by answer code.",
	}, []string{"code"})
	for _, c := range throttleCodes {
		mx.throttleRequests[c] = throttleRequests.WithLabelValues(strconv.Itoa(c))
	}
	reg.MustRegister(mx.requests, mx.tokens, mx.duration, mx.spend, mx.budget,
		mx.keyOn, mx.keyExp, mx.provUp, mx.cpu, mx.maxConc, mx.steps, throttleRequests, mx.activeScenarios, mx.activeThrottles)
	return mx
}

type partialDeleter interface {
	DeletePartialMatch(prometheus.Labels) int
}

// masterVecs are the vectors with a master label: an outage deletes the
// master's children from each.
func (mx *metrics) masterVecs() []partialDeleter {
	return []partialDeleter{mx.requests, mx.tokens, mx.duration, mx.spend, mx.budget,
		mx.limits[0], mx.limits[1], mx.limits[2], mx.limits[3], mx.keyOn, mx.keyExp}
}

// master is one master key: its fixed traits, its traffic state and the
// children it updates each step, held so a step does no label lookups.
type master struct {
	name    string
	keys    []string
	routes  []route               // key × provider × model, model fastest
	latency []prometheus.Observer // provider × model
	spend   prometheus.Counter
	keyOn   []prometheus.Gauge // per key: gateway_key_enabled
	keyExp  []prometheus.Gauge // per key: gateway_key_expires_timestamp_seconds
	expires []float64          // per key: its expiry without a key-expiry, Unix seconds

	baseRPS   float64
	phase     float64
	budgetUSD float64
	limits    [numLimits]float64
	okTokens  float64 // mean tokens of a successful request
	okSpend   float64 // mean USD of a successful request

	walk       float64
	burst      float64
	burstUntil time.Time
	spent      float64   // the spend counter's value, for budget-ramp
	served     []float64 // scratch: requests per latency child this step
	live       []bool    // scratch: per key, whether it serves this step
	fx         effects
	withdrawn  bool // its series are deleted by an outage
}

type route struct {
	req    [len(codes)]prometheus.Counter
	tok    [2]prometheus.Counter // input, output
	reqAcc [len(codes)]float64   // fractional requests carried to the next step
	tokAcc [2]float64
	weight float64 // share of the master's traffic
}

// effects are what the active scenarios do to a master, recomputed whenever
// the scenario set changes so a step reads plain fields.
type effects struct {
	trafficFactor float64
	errorRatio    float64   // < 0: none
	limitRatio    float64   // 429 share of a rate-limit; < 0: none
	quota         float64   // 0: none
	latencyP95    []float64 // per provider; 0: none
	providerDown  []bool    // per provider
	keyDisabled   []bool    // per key
	keyExpires    []float64 // per key, Unix seconds; 0: none
	outage        bool
}

func newEffects(o *Options) effects {
	fx := effects{
		latencyP95:   make([]float64, o.Providers),
		providerDown: make([]bool, o.Providers),
		keyDisabled:  make([]bool, o.KeysPerMaster),
		keyExpires:   make([]float64, o.KeysPerMaster),
	}
	fx.reset()
	return fx
}

func (fx *effects) reset() {
	fx.trafficFactor, fx.errorRatio, fx.limitRatio, fx.quota, fx.outage = 1, -1, -1, 0, false
	clear(fx.latencyP95)
	clear(fx.providerDown)
	clear(fx.keyDisabled)
	clear(fx.keyExpires)
}

// newMaster draws a master's traits. Rates are log-uniform over 0.5–10 req/s;
// limits sit 2.5–4× above the daily peak and the budget 1.5–3× above the
// expected month, and keys expire keyExpiryDays after start, so no alert
// fires without a scenario.
func newMaster(o *Options, idx int, r *rand.Rand, start time.Time) master {
	m := master{
		name:    masterName(idx),
		baseRPS: math.Exp(math.Log(0.5) + r.Float64()*math.Log(20)),
		phase:   (r.Float64() - 0.5) * math.Pi / 2,
		burst:   1,
		served:  make([]float64, o.Providers*o.Models),
		live:    make([]bool, o.KeysPerMaster),
		routes:  make([]route, o.KeysPerMaster*o.Providers*o.Models),
		fx:      newEffects(o),
	}
	for k := range o.KeysPerMaster {
		m.keys = append(m.keys, keyName(idx, k))
		// A day more per key across the whole population, so no two keys
		// share an expiry.
		days := float64(keyExpiryDays + idx*o.KeysPerMaster + k)
		m.expires = append(m.expires, float64(start.Unix())+days*86400)
	}
	// Each master prefers some providers and models over others, so masters
	// differ in tokens and spend per request.
	providerWeight := make([]float64, o.Providers)
	for p := range providerWeight {
		providerWeight[p] = 0.3 + 0.7*r.Float64()
	}
	modelWeight := make([]float64, o.Models)
	for mo := range modelWeight {
		modelWeight[mo] = profileOf(mo).popularity * (0.5 + r.Float64())
	}
	var total float64
	for i := range m.routes {
		k, p, mo := m.routeIndices(i, o)
		w := providerWeight[p] * modelWeight[mo] / float64(k+1) // Zipf over keys
		m.routes[i].weight = w
		total += w
	}
	for i := range m.routes {
		rt := &m.routes[i]
		rt.weight /= total
		// Random initial carries stagger when each series first ticks over,
		// as a gateway that has run for a while would.
		for c := range rt.reqAcc {
			rt.reqAcc[c] = r.Float64()
		}
		rt.tokAcc = [2]float64{r.Float64(), r.Float64()}
		prof := profileOf(i % o.Models)
		m.okTokens += rt.weight * (prof.inTokens + prof.outTokens)
		m.okSpend += rt.weight * (prof.inTokens*prof.inPrice + prof.outTokens*prof.outPrice)
	}
	peakRPS := m.baseRPS * 1.4
	okShare := baseShares[codeOK]
	m.limits[limitRPM] = roundNice(peakRPS * 60 * (2.5 + 1.5*r.Float64()))
	m.limits[limitTPM] = roundNice(m.limits[limitRPM] * okShare * m.okTokens)
	m.limits[limitRPD] = roundNice(m.baseRPS * 86400 * (1.5 + r.Float64()))
	m.limits[limitTPD] = roundNice(m.limits[limitRPD] * okShare * m.okTokens)
	monthly := m.baseRPS * 86400 * 30 * okShare * m.okSpend
	m.budgetUSD = math.Max(10, roundNice(monthly*(1.5+1.5*r.Float64())))
	return m
}

func (m *master) routeIndices(i int, o *Options) (key, provider, model int) {
	return i / (o.Providers * o.Models), i / o.Models % o.Providers, i % o.Models
}

// bind creates the master's children and sets its fixed gauges; after an
// outage it creates them anew, so its counters start again from zero as
// after a gateway that dropped and re-created the master.
func (m *master) bind(mx *metrics, o *Options) {
	for i := range m.routes {
		rt := &m.routes[i]
		k, p, mo := m.routeIndices(i, o)
		key, provider, model := m.keys[k], providerName(p), modelName(mo)
		for c, code := range codes {
			rt.req[c] = mx.requests.WithLabelValues(m.name, key, provider, model, code)
		}
		rt.tok[0] = mx.tokens.WithLabelValues(m.name, key, provider, model, "input")
		rt.tok[1] = mx.tokens.WithLabelValues(m.name, key, provider, model, "output")
	}
	m.latency = m.latency[:0]
	for p := range o.Providers {
		for mo := range o.Models {
			m.latency = append(m.latency, mx.duration.WithLabelValues(m.name, providerName(p), modelName(mo)))
		}
	}
	m.spend = mx.spend.WithLabelValues(m.name)
	m.spent = 0
	mx.budget.WithLabelValues(m.name, "monthly").Set(m.budgetUSD)
	for i, v := range m.limits {
		mx.limits[i].WithLabelValues(m.name).Set(v)
	}
	m.keyOn, m.keyExp = m.keyOn[:0], m.keyExp[:0]
	for _, key := range m.keys {
		m.keyOn = append(m.keyOn, mx.keyOn.WithLabelValues(m.name, key))
		m.keyExp = append(m.keyExp, mx.keyExp.WithLabelValues(m.name, key))
	}
	m.exposeKeys()
}

// exposeKeys sets the key gauges from the effects: by bind, and whenever
// the scenarios change, so a step sets none.
func (m *master) exposeKeys() {
	for k := range m.keys {
		m.keyOn[k].Set(boolGauge(!m.fx.keyDisabled[k]))
		m.keyExp[k].Set(m.expiresAt(k))
	}
}

// expiresAt is when key k expires: a key-expiry's time, or its own.
func (m *master) expiresAt(k int) float64 {
	if at := m.fx.keyExpires[k]; at != 0 {
		return at
	}
	return m.expires[k]
}

// markLive records which keys serve at now (Unix seconds): neither disabled
// nor past their expiry, so a key-expiry set to the near future stops its
// key when that moment comes, as a gateway would.
func (m *master) markLive(now float64) {
	for k := range m.live {
		m.live[k] = !m.fx.keyDisabled[k] && now < m.expiresAt(k)
	}
}

// instance is one plugin instance: its CPU walks around a centre, a
// cpu-spike or a cpu-trace replaces that with its load, and a throttle
// scales the load by limit/orig.
type instance struct {
	tenant, plugin, id string
	cpu, maxConc       prometheus.Gauge

	center, load float64
	spike        float64 // load under a cpu-spike; 0: none
	trace        float64 // load under a cpu-trace, when traced
	traced       bool
	orig, limit  int
	throttle     *Throttle
	expires      time.Time
}

func (in *instance) key() instanceKey { return instanceKey{in.tenant, in.plugin, in.id} }

type instanceKey struct{ tenant, plugin, id string }

func newInstances(o *Options, mx *metrics, r *rand.Rand) []instance {
	var ins []instance
	for t := range o.Tenants {
		for p := range o.PluginsPerTenant {
			for i := range o.InstancesPerPlugin {
				in := instance{tenant: tenantName(t), plugin: pluginName(t, p), id: instanceName(i),
					center: 0.3 + 0.2*r.Float64(), orig: defaultMaxCon, limit: defaultMaxCon}
				in.load = in.center
				in.cpu = mx.cpu.WithLabelValues(in.tenant, in.plugin, in.id)
				in.maxConc = mx.maxConc.WithLabelValues(in.tenant, in.plugin, in.id)
				in.cpu.Set(in.load)
				in.maxConc.Set(float64(in.limit))
				ins = append(ins, in)
			}
		}
	}
	return ins
}
