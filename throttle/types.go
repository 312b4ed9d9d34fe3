package throttle

import (
	"context"
	"time"

	"github.com/gatewarden/gatewarden/store"
)

// Instance names one plugin instance, as the gateway's metrics label it.
type Instance struct {
	TenantID   string `json:"tenant_id"`
	PluginID   string `json:"plugin_id"`
	InstanceID string `json:"instance_id"`
}

func (i Instance) String() string { return i.TenantID + "/" + i.PluginID + "/" + i.InstanceID }

// Plugin is a tenant's plugin: plugin ids are only unique within a tenant.
type Plugin struct{ TenantID, PluginID string }

func (i Instance) plugin() Plugin { return Plugin{i.TenantID, i.PluginID} }

// Event is one alert of the throttle rule from one evaluation: firing (on
// the evaluation that saw the third anomalous sample, and on re-sends) or
// resolved.
type Event struct {
	Rule string // the alertname
	Instance
	Firing bool
	Value  float64 // the sample the rule judged: the CPU ratio
	At     time.Time
}

// State is where an instance's throttle stands.
type State string

// The states. Detecting is an anomaly seen but not acted on yet (waiting
// for room under the blast-radius cap); throttling and releasing have a
// gateway call in flight.
const (
	StateDetecting  State = "detecting"
	StateThrottling State = store.ThrottleThrottling
	StateThrottled  State = store.ThrottleThrottled
	StateReleasing  State = store.ThrottleReleasing
	StateReleased   State = store.ThrottleReleased
	StateFailed     State = store.ThrottleFailed
)

// Throttle is an instance's throttle as the admin API lists it. ID is the
// stored decision's, 0 for a dry run or a detection.
type Throttle struct {
	ID int64 `json:"id,omitempty"`
	Instance
	State                  State     `json:"state"`
	MaxConcurrency         int       `json:"max_concurrency,omitempty"`
	PreviousMaxConcurrency int       `json:"previous_max_concurrency,omitempty"`
	Step                   int       `json:"step,omitempty"`
	Reason                 string    `json:"reason"`
	Actor                  string    `json:"actor,omitempty"`
	DryRun                 bool      `json:"dry_run,omitempty"`
	DecidedAt              time.Time `json:"decided_at"`
	AppliedAt              time.Time `json:"applied_at,omitzero"`
	ExpiresAt              time.Time `json:"expires_at,omitzero"`
	LowSince               time.Time `json:"low_since,omitzero"` // a release pending the stable window
	CPU                    float64   `json:"cpu,omitempty"`
	Escalated              bool      `json:"escalated,omitempty"`
	LastError              string    `json:"last_error,omitempty"`
}

// Request is one throttle call: the body of PATCH /internal/gateway/throttle
// and its Idempotency-Key.
type Request struct {
	Instance
	MaxConcurrency int
	TTL            time.Duration
	IdempotencyKey string
}

// Applied is the gateway's answer to a throttle call, and an entry of its
// throttle list.
type Applied struct {
	Instance
	MaxConcurrency         int       `json:"max_concurrency"`
	PreviousMaxConcurrency int       `json:"previous_max_concurrency"`
	ExpiresAt              time.Time `json:"expires_at"`
	IdempotencyKey         string    `json:"idempotency_key"`
	Released               bool      `json:"released,omitempty"`
	// Replayed: the gateway had seen the key and changed nothing.
	Replayed bool `json:"-"`
}

// Gateway applies one throttle call, one attempt: the Controller retries,
// so that it can audit and count every attempt. Errors should be a
// *GatewayError so 404/501 and retryable failures are told apart.
type Gateway interface {
	Throttle(ctx context.Context, r Request) (Applied, error)
}

// Lister returns the throttles in force at the gateway, to verify a call.
type Lister interface {
	Throttles(ctx context.Context) ([]Applied, error)
}

// Sampler reads the latest samples of the gateway's plugin gauges; the
// daemon implements it with PromQL over the local TSDB. ok is false when
// the instance has no sample.
type Sampler interface {
	// CPU is gateway_plugin_cpu_usage_ratio of the instance.
	CPU(ctx context.Context, inst Instance) (v float64, ok bool, err error)
	// MaxConcurrency is gateway_plugin_max_concurrency of the instance.
	MaxConcurrency(ctx context.Context, inst Instance) (v float64, ok bool, err error)
	// PluginInstances counts each plugin's instances, for the blast-radius
	// share: count by (tenant_id, plugin_id) (gateway_plugin_cpu_usage_ratio).
	PluginInstances(ctx context.Context) (map[Plugin]int, error)
}

// Store keeps decisions, their audit trail and the run-time policy;
// *store.Store implements it. It is wider than one method because the
// decision row and its audit records are one concern with one owner.
type Store interface {
	CreateThrottle(ctx context.Context, t store.Throttle) (store.Throttle, error)
	UpdateThrottle(ctx context.Context, t store.Throttle, from string) (store.Throttle, error)
	GetThrottle(ctx context.Context, id int64) (store.Throttle, error)
	ListActiveThrottles(ctx context.Context) ([]store.Throttle, error)
	SetThrottleFeedback(ctx context.Context, id int64, falsePositive bool, by string, at time.Time) (store.Throttle, error)
	CountFalsePositives(ctx context.Context, since time.Time) (int, error)
	AddThrottleAudit(ctx context.Context, a store.ThrottleAudit) (int64, error)
	ListThrottleAudit(ctx context.Context, f store.AuditFilter) ([]store.ThrottleAudit, int, error)
	GetThrottlePolicy(ctx context.Context) (store.ThrottlePolicy, error)
	PutThrottlePolicy(ctx context.Context, p store.ThrottlePolicy) (store.ThrottlePolicy, error)
	DeleteThrottlePolicy(ctx context.Context) error
	GetThrottleByKey(ctx context.Context, key string) (store.Throttle, error)
	GetThrottleAutomation(ctx context.Context) (store.ThrottleAutomation, error)
	PutThrottleAutomation(ctx context.Context, a store.ThrottleAutomation) (store.ThrottleAutomation, error)
}

// Notifier takes the throttle's alerts to the receiver (or Alertmanager).
type Notifier interface {
	Notify(ctx context.Context, alerts []Notice) error
}

// Clock is the policy's time: TTLs, stable windows and escalation. Tests
// inject one; latencies are measured on the monotonic clock regardless.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
