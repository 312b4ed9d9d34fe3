// Package gatewaysim simulates an ez-api style LLM gateway for gatewarden's
// tests and demos: the usage metrics of DESIGN.md's metric contract, plugin
// CPU, the throttle endpoint, and scenarios that make alerts fire.
//
// # Population and traffic
//
// Masters m1..mN each have keys m1-k1.., send traffic to providers (openai,
// anthropic, gemini, mistral, deepseek, then openai-2, ...) and models
// model-1.., answered with codes 200 (about 95 %), 400, 429, 500 and 503.
// Tenants t1.. have plugins t1-plugin1.. with instances i1.. . A master's
// request rate is a random walk around a daily sine curve with occasional
// bursts; tokens follow successful requests, spend follows tokens, latencies
// are log-normal per model. Budgets and limits are fixed per master, set so
// that nothing alerts without a scenario. Every series exists from the
// start; Options.SeriesCount gives the count. The same Seed and clock give
// the same exposition.
//
// Tests drive a Sim with Step and an injected Options.Now and never sleep;
// the gatewaysim command runs Run, which steps every Tick.
//
// # Flags of the gatewaysim command
//
//	--masters=3 --keys-per-master=2 --providers=2 --models=2
//	--tenants=2 --plugins-per-tenant=2 --instances-per-plugin=2
//	--seed=1 --tick=1s --bursts-per-hour=0.5
//	--web.listen-address=127.0.0.1:9300
//	--scenario=NAME or --scenario=JSON (repeatable; the JSON of POST /sim/scenario)
//	--scenario.trace=FILE --scenario.trace.speed=1 (a cpu-trace of the CSV in FILE)
//	--throttle-fail-rate=0 --throttle-latency=0s --throttle-unsupported=GLOB (repeatable, on plugin_id)
//	--log.level=info --log.format=logfmt
//
// # Endpoints
//
//	GET    /metrics                      the contract and gatewaysim_* series (OpenMetrics and gzip negotiated)
//	GET    /-/healthy, /-/ready
//	GET    /sim/scenario                 {"scenarios":[...]}
//	POST   /sim/scenario                 start one: 200 with its state, 400 {"error": reason}
//	DELETE /sim/scenario[/{id}]          stop all, or one
//	GET    /internal/gateway/throttle    {"throttles":[...]}
//	PATCH  /internal/gateway/throttle    apply a throttle (below)
//
// Request bodies over 64 KiB (16 MiB for POST /sim/scenario, whose
// cpu-trace carries its CSV) are answered 413.
//
// # Scenarios
//
// A scenario request is
//
//	{"name": "error-burst", "target": {"master": "m1"}, "params": {"ratio": 0.5}}
//
// where target and params may be left out: no target means every master
// (or instance), params take their defaults. Starting a scenario with the
// name and target of a running one replaces it; the name "reset" (or
// "none") stops all. Unknown names, targets, parameters and out-of-range
// values are answered 400.
//
//	cpu-spike       target instance {"tenant_id","plugin_id","instance_id"}; value=0.95
//	                The instance's CPU sits at value until throttled. A throttle
//	                scales it by max_concurrency/original (floor 0.05); when the
//	                throttle expires or is released the CPU returns to value.
//	cpu-trace       no target; speed=1 (0.01 to 10000); "trace": CSV (ParseTrace)
//	                Replays a recorded CPU trace: each instance it names shows
//	                its rows' values, the first timestamp mapped to the start,
//	                speed trace seconds a second, each value held until the
//	                next row; the last for one sampling interval, then the
//	                scenario ends and the instances show their own CPU again.
//	                A throttle scales the values as it scales a cpu-spike.
//	                An instance the population lacks is refused (400, line).
//	budget-ramp     target master; duration=240 (seconds)
//	                Spend moves to 40 %, 60 %, 95 % and 105 % of the monthly
//	                budget, one step every duration/3 seconds, the first at once.
//	                60 % → 95 % crosses the 75 % and 90 % levels in one step.
//	error-burst     target master; ratio=0.3: the 5xx share (500:503 = 2:1).
//	latency-spike   target master and/or {"provider"}; seconds=20: the P95.
//	quota-approach  target master; ratio=0.92 (up to 5): RPM and TPM run at
//	                ratio of their limits (±3 %), the limits unchanged.
//	rate-limit      target master or all; ratio=0.3: the share of 429 answers.
//	key-disable     target master and {"key"} (its first if left out):
//	                gateway_key_enabled drops to 0 and the key's traffic stops.
//	key-expiry      target master and {"key"}; days=3 (−30 to 3650, fractions
//	                allowed): the key's expiry moves to days after the start;
//	                once it passes, the key's traffic stops.
//	provider-outage target {"provider"}: gateway_provider_up drops to 0 and
//	                every request routed to it is answered 503, without tokens
//	                or spend.
//	traffic-spike   target master; factor=3: the request rate multiplies.
//	outage          target master: its series leave /metrics (children deleted)
//	                and come back from zero when the scenario stops. No target:
//	                /metrics answers 503, or with hang=1 holds every scrape
//	                until the outage ends, to test scrape timeouts.
//
// # Throttle endpoint
//
//	PATCH /internal/gateway/throttle
//	Idempotency-Key: 6f1c...
//	{"tenant_id":"t1","plugin_id":"t1-plugin1","instance_id":"i1","max_concurrency":16,"ttl_seconds":300}
//
// answers 200 with
//
//	{"tenant_id":"t1","plugin_id":"t1-plugin1","instance_id":"i1","max_concurrency":16,
//	 "previous_max_concurrency":64,"expires_at":"2026-03-02T12:05:00Z","idempotency_key":"6f1c..."}
//
// sets gateway_plugin_max_concurrency and lowers the instance's CPU from the
// next step. The throttle ends after ttl_seconds (fractions allowed),
// restoring the original limit (64); a PATCH with the original limit
// releases it at once ("released": true). A new throttle replaces the
// instance's current one. A repeated Idempotency-Key answers the stored
// result with "Idempotent-Replayed: true" and changes nothing; keys are
// kept for 24 h of simulated time, at most 100,000 of them. Unknown JSON
// fields are ignored.
//
// Errors are {"error": reason}: 400 for a malformed body, a missing or
// non-positive field or a missing Idempotency-Key, 404 for an unknown
// instance, 413 for a body over 64 KiB, and the injected faults: 503 for a
// fraction --throttle-fail-rate of requests, 501 for plugins matching
// --throttle-unsupported, each after --throttle-latency.
package gatewaysim
