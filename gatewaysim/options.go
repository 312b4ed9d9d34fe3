package gatewaysim

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"time"
)

// Options sizes the simulated population and sets the throttle endpoint's
// injected faults. Start from DefaultOptions: New rejects zero populations
// rather than guessing what a zero meant.
type Options struct {
	Masters            int
	KeysPerMaster      int
	Providers          int
	Models             int
	Tenants            int
	PluginsPerTenant   int
	InstancesPerPlugin int

	// Seed makes two runs with the same options produce the same series.
	Seed uint64
	// Tick is the simulated time one Step advances, and Run's real period.
	Tick time.Duration
	// BurstsPerHour is how often, on average, a master's traffic bursts
	// (×2–4 for 30–120 s). Zero disables bursts, which tests that measure
	// rates want.
	BurstsPerHour float64
	// Now is the clock for throttle expiry, idempotency keys, scenario
	// timing and Run's steps; nil means time.Now.
	Now func() time.Time

	// ThrottleFailRate is the fraction of throttle PATCHes answered 503.
	ThrottleFailRate float64
	// ThrottleLatency delays every throttle PATCH answer.
	ThrottleLatency time.Duration
	// ThrottleUnsupported holds path.Match globs on plugin_id; a PATCH for a
	// matching plugin is answered 501, as by a plugin without the API.
	ThrottleUnsupported []string

	// SinkSecret is the secret the webhook sink and the Feishu stand-in
	// check signatures with; empty accepts unsigned deliveries.
	SinkSecret string

	// Scenarios are started by New, as if POSTed to /sim/scenario.
	Scenarios []ScenarioRequest
}

// DefaultOptions returns the population the gatewaysim command starts with.
func DefaultOptions() Options {
	return Options{
		Masters:            3,
		KeysPerMaster:      2,
		Providers:          2,
		Models:             2,
		Tenants:            2,
		PluginsPerTenant:   2,
		InstancesPerPlugin: 2,
		Seed:               1,
		Tick:               time.Second,
		BurstsPerHour:      0.5,
	}
}

// maxSeries keeps a mistyped flag from asking for more memory than a test
// machine has; 5M series is well past any realistic gateway.
const maxSeries = 5_000_000

// selfSeries is the number of gatewaysim_* series: steps_total,
// active_scenarios, active_throttles and one throttle_requests_total per
// code in throttleCodes.
var selfSeries = 3 + len(throttleCodes)

// SeriesCount is the number of series /metrics exposes (text format, no
// outage), with M masters, K keys per master, P providers, Mo models, B
// latency buckets (len(LatencyBuckets)), T tenants, Pl plugins per tenant and
// I instances per plugin:
//
//	gateway_requests_total                  M·K·P·Mo·5   (codes 200 400 429 500 503)
//	gateway_tokens_total                    M·K·P·Mo·2   (input, output)
//	gateway_request_duration_seconds        M·P·Mo·(B+3) (buckets, +Inf, _sum, _count)
//	gateway_spend_usd_total                 M
//	gateway_master_budget_usd               M
//	gateway_master_limit_{rpm,tpm,rpd,tpd}  4·M
//	gateway_key_enabled                     M·K
//	gateway_key_expires_timestamp_seconds   M·K
//	gateway_provider_up                     P
//	gateway_plugin_{cpu_usage_ratio,max_concurrency}  2·T·Pl·I
//	gatewaysim_*                            3 + 6
//
// Every child is created up front, so the count does not grow with traffic.
// Masters=100 KeysPerMaster=10 Providers=5 Models=4 gives 100,000 request
// series and 176,600 master series in all (2,000 of them key gauges), and 5
// provider series, before the plugin and gatewaysim_* series.
func (o Options) SeriesCount() int {
	return seriesCount(o.Masters, o.KeysPerMaster, o.Providers, o.Models,
		o.Tenants, o.PluginsPerTenant, o.InstancesPerPlugin)
}

// seriesCount is SeriesCount's formula, kept in one place for both callers:
// SeriesCount in ints, validate in floats, because int products of sizes up
// to 1e6 can overflow before SeriesCount could be asked.
func seriesCount[N int | float64](masters, keys, providers, models, tenants, plugins, instances N) N {
	routes := masters * keys * providers * models
	return routes*N(len(codes)+2) +
		masters*providers*models*N(len(LatencyBuckets)+3) +
		6*masters +
		2*masters*keys + providers +
		2*tenants*plugins*instances +
		N(selfSeries)
}

func (o Options) validate() error {
	sizes := []struct {
		name string
		v    int
	}{
		{"masters", o.Masters}, {"keys-per-master", o.KeysPerMaster},
		{"providers", o.Providers}, {"models", o.Models},
		{"tenants", o.Tenants}, {"plugins-per-tenant", o.PluginsPerTenant},
		{"instances-per-plugin", o.InstancesPerPlugin},
	}
	for _, s := range sizes {
		// The per-size cap keeps the products below from overflowing.
		if s.v < 1 || s.v > 1_000_000 {
			return fmt.Errorf("%s must be between 1 and 1000000, got %d", s.name, s.v)
		}
	}
	n := seriesCount(float64(o.Masters), float64(o.KeysPerMaster), float64(o.Providers), float64(o.Models),
		float64(o.Tenants), float64(o.PluginsPerTenant), float64(o.InstancesPerPlugin))
	if n > maxSeries {
		return fmt.Errorf("population would expose more than %d series", maxSeries)
	}
	if o.Tick <= 0 {
		return errors.New("tick must be positive")
	}
	if o.BurstsPerHour < 0 {
		return errors.New("bursts per hour must not be negative")
	}
	if o.ThrottleFailRate < 0 || o.ThrottleFailRate > 1 {
		return fmt.Errorf("throttle fail rate must be within [0, 1], got %g", o.ThrottleFailRate)
	}
	if o.ThrottleLatency < 0 {
		return errors.New("throttle latency must not be negative")
	}
	for _, g := range o.ThrottleUnsupported {
		if _, err := path.Match(g, ""); err != nil {
			return fmt.Errorf("throttle unsupported pattern %q: %w", g, err)
		}
	}
	return nil
}

// Label values are short and derived from indices alone, so a test or a rule
// file can name them without asking the simulator.

func masterName(m int) string    { return "m" + strconv.Itoa(m+1) }
func keyName(m, k int) string    { return masterName(m) + "-k" + strconv.Itoa(k+1) }
func modelName(j int) string     { return "model-" + strconv.Itoa(j+1) }
func tenantName(t int) string    { return "t" + strconv.Itoa(t+1) }
func pluginName(t, p int) string { return tenantName(t) + "-plugin" + strconv.Itoa(p+1) }
func instanceName(i int) string  { return "i" + strconv.Itoa(i+1) }

var providerNames = []string{"openai", "anthropic", "gemini", "mistral", "deepseek"}

// providerName cycles through real provider names and numbers the second
// round on ("openai-2"), keeping names unique for any provider count.
func providerName(p int) string {
	name := providerNames[p%len(providerNames)]
	if round := p / len(providerNames); round > 0 {
		name += "-" + strconv.Itoa(round+1)
	}
	return name
}
