package throttle

import (
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/config"
)

// Options wires a Controller. Gateway, Sampler, Store and Policy are
// required.
type Options struct {
	Gateway Gateway
	// Lister verifies calls against the gateway's list; with Verify
	// "gauge" the Sampler's max_concurrency does, with "none" the answer.
	Lister   Lister
	Verify   string
	Sampler  Sampler
	Store    Store
	Notifier Notifier // nil: alerts are only audited
	Clock    Clock    // nil: time.Now
	Policy   *Policy

	Workers       int           // gateway calls in flight at most; default 8
	Timeout       time.Duration // one attempt; default 5s
	MaxAttempts   int           // default 3
	RetryBackoff  time.Duration // before the second attempt, doubling; default 500ms
	VerifyTimeout time.Duration // default 5s
	// TickInterval is Run's period; default 5s, half the scrape interval,
	// so a stable window ends at most one sample late.
	TickInterval time.Duration
	// RetryFailedAfter is how long a failed instance waits before an alert
	// re-send may start a new decision; default 1m.
	RetryFailedAfter time.Duration
	// StaleAfter forgets an anomaly not re-sent for that long (the
	// evaluator re-sends firing alerts every minute); default 5m.
	StaleAfter   time.Duration
	DrainTimeout time.Duration // Close waits this long for jobs; default 5s
	// AutomationOff starts with the kill switch off when the store has no
	// setting of its own.
	AutomationOff bool
	// ReconcileInterval is how often Run compares the gateway's throttle
	// list with the controller's state; 0 only on demand (Reconcile).
	ReconcileInterval time.Duration
	// Orphans is what reconcile does with a throttle of gatewarden's own
	// making that it does not manage: config.OrphanAdopt (default) or
	// config.OrphanRelease.
	Orphans string

	Language    string // of the notices' summary: en (default) or zh
	ExternalURL string // the notices' generatorURL
	Registerer  prometheus.Registerer
	Logger      *slog.Logger
}

// OptionsFromConfig fills the gateway and dispatch options from the
// config section; the caller adds Sampler, Store, Notifier and the rest.
func OptionsFromConfig(c *config.ThrottleConfig) (Options, error) {
	gw, err := NewHTTPGateway(c.Gateway)
	if err != nil {
		return Options{}, err
	}
	pol, err := NewPolicy(c.ThrottlePolicy)
	if err != nil {
		return Options{}, err
	}
	g := c.Gateway
	return Options{Gateway: gw, Lister: gw, Verify: g.Verify, Policy: pol, Workers: c.Workers,
		AutomationOff: !c.Automation.On(), ReconcileInterval: time.Duration(*c.Reconcile.Interval), Orphans: c.Reconcile.Orphans,
		Timeout: time.Duration(g.Timeout), MaxAttempts: g.MaxAttempts, RetryBackoff: time.Duration(g.RetryBackoff),
		VerifyTimeout: time.Duration(g.VerifyTimeout)}, nil
}

func (o *Options) defaults() error {
	if o.Gateway == nil || o.Sampler == nil || o.Store == nil || o.Policy == nil {
		return errors.New("throttle: Gateway, Sampler, Store and Policy are required")
	}
	if o.Verify == "" {
		o.Verify = config.VerifyGauge
		if o.Lister != nil {
			o.Verify = config.VerifyList
		}
	}
	if o.Verify == config.VerifyList && o.Lister == nil {
		return errors.New("throttle: verify by list needs a Lister")
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	setDefault(&o.Workers, config.DefaultThrottleWorkers)
	setDefault(&o.MaxAttempts, config.DefaultThrottleMaxAttempts)
	setDefault(&o.Timeout, config.DefaultThrottleTimeout)
	setDefault(&o.RetryBackoff, config.DefaultThrottleRetryBackoff)
	setDefault(&o.VerifyTimeout, config.DefaultThrottleVerifyTimeout)
	setDefault(&o.TickInterval, 5*time.Second)
	setDefault(&o.RetryFailedAfter, time.Minute)
	setDefault(&o.StaleAfter, 5*time.Minute)
	setDefault(&o.DrainTimeout, 5*time.Second)
	if o.Orphans == "" {
		o.Orphans = config.OrphanAdopt
	}
	return nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
