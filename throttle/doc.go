// Package throttle is gatewarden's auto-throttle: a sustained plugin CPU
// anomaly (the throttle rule firing) becomes a PATCH of the instance's
// max_concurrency at the gateway, verified, renewed while needed, stepped
// down if not enough, released on recovery, and audited throughout.
//
// Per instance the states are detecting → throttling → throttled →
// releasing → released, or failed. The Controller decides in Observe, on
// the evaluator's goroutine, the moment the rule fires (the evaluation
// that sees the third anomalous sample); the gateway calls run on a
// bounded pool of workers, so a thousand simultaneous anomalies cost a
// thousand decisions at once but at most Workers calls in flight. Tick
// follows what is in force. Every decision is stored with the
// Idempotency-Key of its call before the call is made: a restart repeats
// an interrupted call with the same key, and Load takes over TTLs and
// pending releases, so no decision is applied twice.
//
// The package defines what it consumes (Gateway, Lister, Sampler, Store,
// Notifier, Clock) and implements the gateway side itself (HTTPGateway).
// See docs/throttle.md for the policy, the alerts and the operations.
package throttle
