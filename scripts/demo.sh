#!/usr/bin/env bash
# make demo: start the simulated gateway and gatewarden on examples/demo.yml,
# then show, every few seconds, what gatewarden sees: its scrape targets and
# live PromQL over the gateway's usage. Stops by itself after DEMO_DURATION
# seconds (default 120), or at Ctrl-C; everything it started is stopped and
# its data removed.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
DURATION=${DEMO_DURATION:-120}
GW=http://127.0.0.1:9095
SIM=http://127.0.0.1:9300
work=$(mktemp -d -t gatewarden-demo.XXXXXX)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for port in 9095 9300; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "port $port is in use: stop what listens there and run make demo again" >&2
		exit 1
	fi
done

"$BIN/gatewaysim" --web.listen-address=127.0.0.1:9300 --sink-secret="$(cat examples/demo-sink.secret)" --log.level=warn >"$work/gatewaysim.log" 2>&1 &
pids+=($!)
"$BIN/gatewarden" --config.file=examples/demo.yml --storage.path="$work/data" \
	--web.listen-address=127.0.0.1:9095 >"$work/gatewarden.log" 2>&1 &
pids+=($!)

wait_ready() {
	for _ in $(seq 100); do
		curl -sf "$1" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "$2 did not become ready; its log:" >&2
	cat "$work/$2.log" >&2
	exit 1
}
wait_ready "$SIM/metrics" gatewaysim
wait_ready "$GW/-/ready" gatewarden
echo "status console: $GW/ (alerts, deliveries, throttles, rules and targets)"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
query() {
	bold "$1"
	echo "  PromQL: $2"
	"$BIN/gatewardenctl" query instant "$GW" "$2" | sed 's/^/  /'
}

# notifications summarises gatewaysim's /sim/notifications, one line each.
notifications() {
	tr '{' '\n' | sed -n 's/.*"sink":"\([a-z]*\)","receivedAt":"[^T]*T\([0-9:]*\)[^"]*","verified":\(true\|false\).*/\2 \1 verified=\3/p'
}

# history counts delivery history entries by status.
history() {
	tr '{' '\n' | sed -n 's/.*"status":"\(sent\|failed\|suppressed\)".*/\1/p' | sort | uniq -c | sed 's/^ *//'
	echo "suppressed: $(curl -sf "$GW/admin/alert-history?status=suppressed&limit=1" | sed -n 's/.*"error":"\(\([^"\\]\|\\.\)*\)".*/\1/p' | sed 's/\\"/"/g')"
}

# flap posts one state of a demo alert, as Prometheus or Alertmanager would.
flap() {
	local ends=""
	[[ $1 == resolved ]] && ends=',"endsAt":"'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'"'
	curl -sf -X POST "$GW/api/v2/alerts" -H 'Content-Type: application/json' \
		-d '[{"labels":{"alertname":"DemoFlapping","master":"m3","severity":"warning","type":"error_spike"},"annotations":{"summary":"A flapping demo alert ('"$1"')"}'"$ends"'}]'
}

# scenario starts one and prints its id, for stopping it later.
scenario() {
	echo "  POST $SIM/sim/scenario $1" >&2
	curl -sf -X POST "$SIM/sim/scenario" -H 'Content-Type: application/json' -d "$1" | sed -n 's/^{"id":\([0-9]*\).*/\1/p'
}

echo "gatewaysim on $SIM, gatewarden on $GW (Prometheus API: $GW/api/v1/query)"
echo "Showing live results for ${DURATION}s; Ctrl-C stops earlier."
end=$((SECONDS + DURATION))
round=0
while ((SECONDS < end)); do
	sleep 6
	round=$((round + 1))
	bold "── round $round, $(date -u +%H:%M:%S) UTC ──"
	bold "Scrape targets"
	"$BIN/gatewardenctl" targets "$GW" | sed 's/^/  /'
	query "Requests per second by master" 'sum by (master) (rate(gateway_requests_total[1m]))'
	query "Error ratio (5xx) by master" 'sum by (master) (rate(gateway_requests_total{code=~"5.."}[1m])) / sum by (master) (rate(gateway_requests_total[1m]))'
	query "Spend against monthly budget" 'sum by (master) (gateway_spend_usd_total) / on (master) sum by (master) (gateway_master_budget_usd)'
	query "P95 latency by provider (s)" 'histogram_quantile(0.95, sum by (le, provider) (rate(gateway_request_duration_seconds_bucket[1m])))'
	query "Hottest plugin instances (CPU ratio)" 'topk(3, gateway_plugin_cpu_usage_ratio)'
	query "Series in gatewarden's store" 'prometheus_tsdb_head_series'
	bold "Alerts from the built-in rule pack"
	"$BIN/gatewardenctl" alerts "$GW" | sed 's/^/  /'
	bold "The same alerts in gatewarden's store, through the admin API ($GW/admin/alerts)"
	"$BIN/gatewardenctl" admin --server "$GW" stats | sed 's/^/  /'
	"$BIN/gatewardenctl" admin --server "$GW" alerts --status active | sed -n '1,8s/^/  /p' # sed reads it all: head would stop gatewardenctl with SIGPIPE
	bold "Auto-throttle: throttles in force at the simulated gateway, and gatewarden's decisions ($GW/admin/throttles)"
	curl -sf "$SIM/internal/gateway/throttle" | sed 's/^/  gateway: /'
	curl -sf "$GW/admin/throttles" | tr '{' '\n' | sed -n 's/.*"instance_id":"\([^"]*\)","state":"\([a-z]*\)","max_concurrency":\([0-9]*\).*/  gatewarden: \1 \2 max_concurrency=\3/p'
	curl -sf "$GW/admin/throttles/history?limit=200" | tr '{' '\n' | sed -n 's/.*"action":"\([a-z_]*\)".*/\1/p' | sort | uniq -c | sed 's/^ */  audit: /'
	bold "Notifications delivered to gatewaysim's webhook sink and Feishu stand-in (signatures checked)"
	curl -sf "$SIM/sim/notifications" | notifications | tail -6 | sed 's/^/  /'
	bold "Delivery history (sent, failed, suppressed by the cooldown)"
	curl -sf "$GW/admin/alert-history?limit=200" | history | sed 's/^/  /'
	if ((round == 2)); then
		bold "Posting a flapping alert to /api/v2/alerts: fire, resolve, fire again — the re-fire is held back by the 1h cooldown"
		flap firing
	fi
	if ((round == 3)); then
		flap resolved
	fi
	if ((round == 4)); then
		flap firing
	fi
	if ((round == 3)); then
		cpu_alert=$("$BIN/gatewardenctl" admin --server "$GW" alerts --status active | awk '$4 == "cpu_anomaly" {print $1; exit}')
		if [[ -n "$cpu_alert" ]]; then
			bold "Acknowledging the CPU alert $cpu_alert as demo-operator: it stays acknowledged while it fires"
			"$BIN/gatewardenctl" admin --server "$GW" ack "$cpu_alert" --by demo-operator
		fi
	fi
	if ((round == 1)); then
		bold "Starting scenarios on the simulated gateway: budget-ramp on master m1, cpu-spike on t1/t1-plugin1/i1, key m2-k1 expiring in 3 days (ez-api's key_expired event)"
		scenario '{"name":"budget-ramp","target":{"master":"m1"},"params":{"duration":30}}' >/dev/null
		scenario '{"name":"key-expiry","target":{"master":"m2","key":"m2-k1"},"params":{"days":3}}' >/dev/null
		cpu_spike=$(scenario '{"name":"cpu-spike","target":{"tenant_id":"t1","plugin_id":"t1-plugin1","instance_id":"i1"}}')
	fi
	if ((round == 5)); then
		bold "Ending the cpu-spike: PluginCPUHigh recovers once CPU stays below 70 % for three samples and the 1m observation window; the throttle was released once CPU stayed low for 20s"
		curl -sf -X DELETE "$SIM/sim/scenario/$cpu_spike" >/dev/null
	fi
	if ((round == 8)); then
		bold "Starting a second cpu-spike, on t2/t2-plugin1/i1: throttled like the first, for the kill switch to release"
		scenario '{"name":"cpu-spike","target":{"tenant_id":"t2","plugin_id":"t2-plugin1","instance_id":"i1"}}' >/dev/null
	fi
	if ((round == 12)); then
		bold "Kill switch: turning the automation off releases every throttle it applied (limits restored, verified, audited); anomalies become alerts only"
		"$BIN/gatewardenctl" throttle --url="$GW" disable --reason="demo: rollback drill" --by=demo-operator | sed 's/^/  /'
		sleep 2
		"$BIN/gatewardenctl" throttle --url="$GW" status | sed 's/^/  /'
		curl -sf "$SIM/internal/gateway/throttle" | sed 's/^/  gateway after the switch: /'
	fi
	if ((round == 14)); then
		bold "Turning the automation back on: it starts from a clean state, and the still-hot instance is throttled again"
		"$BIN/gatewardenctl" throttle --url="$GW" enable --by=demo-operator | sed 's/^/  /'
	fi
done
bold "Demo finished: gatewarden scraped the simulated gateway, answered PromQL, fired and recovered alerts, throttled and released the hot plugin instances (by recovery, then by the kill switch), and delivered notifications."
