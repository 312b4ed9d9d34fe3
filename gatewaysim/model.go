package gatewaysim

import (
	"math"
	"time"
)

// LatencyBuckets are gateway_request_duration_seconds' buckets: LLM calls
// range from a fast embedding (0.1 s) to a long reasoning answer (60 s).
var LatencyBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 10, 15, 20, 30, 45, 60}

// codes are the status codes every route exposes; baseShares their share of
// a master's requests outside scenarios (200 dominant).
var (
	codes      = [...]string{"200", "400", "429", "500", "503"}
	baseShares = [len(codes)]float64{0.955, 0.02, 0.01, 0.01, 0.005}
)

const (
	codeOK  = 0
	code429 = 2
	code500 = 3
	code503 = 4
)

// codeShares is the split of a master's requests over codes. An error ratio
// ≥ 0 (an error-burst) sets the 5xx share (500:503 = 2:1), a limit ratio ≥ 0
// (a rate-limit) the 429 share, and the codes neither sets keep their
// proportions, scaled to what is left. Both ratios are shares of all the
// master's requests, so each scenario moves its alert as it would alone;
// when they add up to more than 1 the rate-limit wins, as a gateway refuses
// a request before it forwards it, and the 5xx share is what is left.
func codeShares(errorRatio, limitRatio float64) [len(codes)]float64 {
	s := baseShares
	if errorRatio < 0 && limitRatio < 0 {
		return s
	}
	left, kept := 1.0, 1.0 // the share left to the other codes, and their base share
	if limitRatio >= 0 {
		left -= limitRatio
		kept -= s[code429]
	}
	if errorRatio >= 0 {
		errorRatio = math.Min(errorRatio, left)
		left -= errorRatio
		kept -= s[code500] + s[code503]
	}
	scale := left / kept
	for c := range s {
		s[c] *= scale
	}
	if limitRatio >= 0 {
		s[code429] = limitRatio
	}
	if errorRatio >= 0 {
		s[code500] = errorRatio * 2 / 3
		s[code503] = errorRatio / 3
	}
	return s
}

// downShares is the split of requests to a provider in a provider-outage:
// whatever the gateway forwards is answered 503. A rate-limit's 429s are
// refused before forwarding, so they keep their share.
func downShares(limitRatio float64) [len(codes)]float64 {
	var s [len(codes)]float64
	s[code429] = math.Max(limitRatio, 0)
	s[code503] = 1 - s[code429]
	return s
}

// modelProfile is what one successful request to a model costs and how long
// it takes. Models cycle through the profiles, so model-1 is small and fast,
// model-3 a slow reasoning model, whatever the model count.
type modelProfile struct {
	inTokens, outTokens float64 // per successful request
	inPrice, outPrice   float64 // USD per token
	latency             float64 // median seconds
	popularity          float64 // relative share of traffic
}

var modelProfiles = []modelProfile{
	{inTokens: 700, outTokens: 250, inPrice: 0.15e-6, outPrice: 0.6e-6, latency: 1.2, popularity: 3},
	{inTokens: 1500, outTokens: 500, inPrice: 2.5e-6, outPrice: 10e-6, latency: 3.5, popularity: 2},
	{inTokens: 3000, outTokens: 900, inPrice: 3e-6, outPrice: 15e-6, latency: 8, popularity: 1},
	{inTokens: 400, outTokens: 60, inPrice: 0.05e-6, outPrice: 0.2e-6, latency: 0.4, popularity: 1.5},
}

func profileOf(model int) *modelProfile { return &modelProfiles[model%len(modelProfiles)] }

const (
	// latencySigma is the log-normal spread of latencies: P95 ≈ 2.3 × median.
	latencySigma = 0.5
	// z95 is the standard normal's 95th percentile, used to pin a P95.
	z95 = 1.6448536269514722
)

// diurnal is the daily traffic curve: ±40 % around the mean, peaking at
// 14:00 UTC shifted by the master's phase (its users' time zone).
func diurnal(now time.Time, phase float64) float64 {
	secs := float64(now.Unix() % 86400)
	return 1 + 0.4*math.Sin(2*math.Pi*(secs/86400-8.0/24)+phase)
}

// Random-walk constants: how far a master's rate or an instance's CPU strays
// per √second, and how fast it is pulled back.
const (
	walkSigma     = 0.01  // log-rate per √s
	walkRevert    = 600.0 // seconds
	walkBound     = 0.5   // |log-rate| cap: rate within ×0.6–×1.65
	quotaJitter   = 0.06  // quota-approach keeps the walk's noise within ±3 %
	cpuSigma      = 0.005 // ratio per √s: a stationary spread of ±0.04
	cpuRevert     = 120.0 // seconds
	cpuMin        = 0.05
	cpuMax        = 0.85
	cpuFloor      = 0.05 // a throttled instance still does some work
	spikeJitter   = 0.01
	defaultMaxCon = 64
)

// keyExpiryDays is how far after the sim's start a key expires without a
// key-expiry scenario, plus a day per key so expiries differ: far enough
// that no expiry alert (a week ahead) fires in a run.
const keyExpiryDays = 90

// budgetSteps are the fractions of the monthly budget a budget-ramp moves
// spend to, one every duration/3 seconds. 0.60 → 0.95 jumps past both the
// 75 % and the 90 % level in one step, the case stepped thresholds must
// count once per level.
var budgetSteps = []float64{0.40, 0.60, 0.95, 1.05}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// roundNice rounds to two significant digits, as a human sets limits.
func roundNice(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v))-1)
	return math.Round(v/p) * p
}
