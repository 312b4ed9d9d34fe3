#!/usr/bin/env bash
# scripts/fleet.sh: a gatewarden fleet on 127.0.0.1, as docs/fleet.md draws
# it, and three checks of it.
#
#   three gateway nodes (gatewaysim), each with its gatewarden sidecar that
#   scrapes and throttles only its node and remote-writes to
#   VictoriaMetrics, the central store (Debian's victoria-metrics);
#   a receiver pair: two gatewardens sharing one PostgreSQL;
#   a fleet-wide rule, exported with `gatewardenctl rules export` and
#   evaluated twice, each firing into the pair: by vmalert over
#   VictoriaMetrics, and by Prometheus's ruler over what its Prometheus
#   federates from VictoriaMetrics.
#
# Checks: VictoriaMetrics sees all three nodes; the fleet alert of each
# ruler reaches the receiver pair and is delivered once; VictoriaMetrics stopped for
# OUTAGE seconds (default 120) and restarted has every sample each
# sidecar stored meanwhile (counted on both sides).
#
# Needs: make build prometheus; victoria-metrics and vmalert (apt-get install
# victoria-metrics); PostgreSQL's server binaries (apt-get install
# postgresql); curl and jq. Everything it starts stops at exit, and its
# data goes with it.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
OUTAGE=${OUTAGE:-120}
INTERVAL=5s
work=$(mktemp -d -t gatewarden-fleet.XXXXXX)
chmod 755 "$work"
pids=()
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
keep= # set when a check fails: the logs stay in $work
VM_PORT=18428 VMALERT_PORT=18880 PROM_PORT=18090 PG_PORT=15432
NODE_PORTS=(19101 19102 19103) SIM_PORTS=(19301 19302 19303) RCV_PORTS=(19201 19202)

pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$PG_BIN/$1" "${@:2}"; else "$PG_BIN/$1" "${@:2}"; fi; }
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[[ -n ${vm_pid:-} ]] && kill "$vm_pid" 2>/dev/null || true
	[[ -f $work/pg/postmaster.pid ]] && pg pg_ctl -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
	wait 2>/dev/null || true
	if [[ -n $keep ]]; then echo "fleet: logs and data kept in $work" >&2; else rm -rf "$work"; fi
}
fail() {
	echo "fleet: $*" >&2
	keep=1
	exit 1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in victoria-metrics vmalert curl jq; do
	command -v "$tool" >/dev/null || fail "$tool is missing (see the header of $0)"
done
[[ -x $BIN/prometheus ]] || fail "$BIN/prometheus is missing: make prometheus builds it"
[[ -x $PG_BIN/initdb ]] || fail "PostgreSQL's initdb is missing (apt-get install postgresql)"
for port in $VM_PORT $VMALERT_PORT $PROM_PORT $PG_PORT "${NODE_PORTS[@]}" "${SIM_PORTS[@]}" "${RCV_PORTS[@]}"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		fail "port $port is in use"
	fi
done

step() { printf '\n\033[1m%s\033[0m\n' "$*"; }
wait_for() { # what, tries (of 0.5 s), command...
	local what=$1 tries=$2
	shift 2
	for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
	fail "timed out waiting for $what"
}
ready() { curl -sf "$1" >/dev/null; }
# vm QUERY [TIME]: the first value of an instant query on VictoriaMetrics.
vm() { curl -s "http://127.0.0.1:$VM_PORT/api/v1/query" --data-urlencode "query=$1" ${2:+--data-urlencode "time=$2"} | jq -r '.data.result[0].value[1] // .error // "none"' || true; }
# local PORT QUERY [TIME]: the same on one sidecar's own TSDB.
local_q() { curl -s "http://127.0.0.1:$1/api/v1/query" --data-urlencode "query=$2" ${3:+--data-urlencode "time=$3"} | jq -r '.data.result[0].value[1] // .error // "none"' || true; }

step "central store: VictoriaMetrics on :$VM_PORT"
start_vm() {
	# No latency offset: the outage check counts samples up to the last second.
	victoria-metrics -storageDataPath="$work/vm" -httpListenAddr=127.0.0.1:$VM_PORT \
		-search.latencyOffset=0s -retentionPeriod=1d -loggerLevel=ERROR >>"$work/vm.log" 2>&1 &
	vm_pid=$!
	wait_for VictoriaMetrics 60 ready "http://127.0.0.1:$VM_PORT/health"
}
start_vm

step "receiver pair: two gatewardens on :${RCV_PORTS[0]} and :${RCV_PORTS[1]} sharing PostgreSQL on :$PG_PORT"
# The cluster's directories belong to the user the server runs as.
mkdir -m 700 "$work/pg" "$work/pgrun"
[[ $(id -u) == 0 ]] && chown postgres "$work/pg" "$work/pgrun"
pg initdb -D "$work/pg" -U postgres --auth=trust -E UTF8 --no-sync --locale=C >"$work/initdb.log"
pg pg_ctl -D "$work/pg" -l "$work/pgrun/postgres.log" -w \
	-o "-p $PG_PORT -k $work/pgrun -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
echo "postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable" >"$work/database.url"
cp examples/demo-sink.secret "$work/sink.secret"
for i in 0 1; do
	cat >"$work/receiver$i.yml" <<EOF
rule_files: []
storage: {database_url_file: database.url}
receiver:
  route: {receiver: ops, group_by: [alertname, ruler], group_wait: 2s, group_interval: 10s, repeat_interval: 1h}
  receivers:
    - name: ops
      webhook_configs: [{url: "http://127.0.0.1:${SIM_PORTS[0]}/sim/webhook", secret_file: sink.secret}]
EOF
	"$BIN/gatewarden" --config.file="$work/receiver$i.yml" --storage.path="$work/receiver$i" \
		--web.listen-address=127.0.0.1:${RCV_PORTS[$i]} --log.level=warn >"$work/receiver$i.log" 2>&1 &
	pids+=($!)
done

step "three gateway nodes, each with its sidecar remote-writing to VictoriaMetrics"
for i in 0 1 2; do
	n=n$((i + 1))
	"$BIN/gatewaysim" --web.listen-address=127.0.0.1:${SIM_PORTS[$i]} --seed=$((i + 1)) \
		--sink-secret="$(cat examples/demo-sink.secret)" --log.level=warn >"$work/sim-$n.log" 2>&1 &
	pids+=($!)
	cat >"$work/$n.yml" <<EOF
global:
  scrape_interval: $INTERVAL
  evaluation_interval: $INTERVAL
  external_labels: {node: $n}
scrape_configs:
  - job_name: gateway
    static_configs: [{targets: ["127.0.0.1:${SIM_PORTS[$i]}"]}]
alerting:
  alertmanagers:
    - static_configs: [{targets: ["127.0.0.1:${RCV_PORTS[0]}", "127.0.0.1:${RCV_PORTS[1]}"]}]
throttle:
  gateway: {url: "http://127.0.0.1:${SIM_PORTS[$i]}"}
remote_write:
  - url: http://127.0.0.1:$VM_PORT/api/v1/write
    queue_config: {max_backoff: 1s}
EOF
	"$BIN/gatewarden" --config.file="$work/$n.yml" --storage.path="$work/$n" \
		--web.listen-address=127.0.0.1:${NODE_PORTS[$i]} --log.level=warn >"$work/$n.log" 2>&1 &
	pids+=($!)
done
for port in "${RCV_PORTS[@]}" "${NODE_PORTS[@]}"; do wait_for "gatewarden on :$port" 100 ready "http://127.0.0.1:$port/-/ready"; done

step "fleet rule: exported with gatewardenctl; vmalert over VictoriaMetrics and Prometheus's ruler over its federation run it"
cat >"$work/fleet-rules.yml" <<'EOF'
groups:
  - name: fleet
    interval: 10s
    rules:
      - alert: FleetSpendFlowing
        expr: sum(rate(gateway_spend_usd_total[1m])) * 3600
        condition: {function: avg, window: 30s, op: ">", value: 0}
        labels: {severity: info, scope: fleet}
        annotations: {summary: "the fleet spends {{ $value }} USD per hour"}
EOF
"$BIN/gatewardenctl" rules export "$work/fleet-rules.yml" >"$work/fleet-rules.prom.yml"
sed 's/^/  /' "$work/fleet-rules.prom.yml"
vmalert -rule="$work/fleet-rules.prom.yml" -datasource.url=http://127.0.0.1:$VM_PORT \
	-notifier.url=http://127.0.0.1:${RCV_PORTS[0]} -notifier.url=http://127.0.0.1:${RCV_PORTS[1]} \
	-external.label=ruler=vmalert \
	-evaluationInterval=10s -httpListenAddr=127.0.0.1:$VMALERT_PORT -loggerLevel=ERROR >"$work/vmalert.log" 2>&1 &
pids+=($!)
# Prometheus's rules evaluate over its own TSDB: it federates the rule's
# input from VictoriaMetrics (honor_labels keeps each node's label).
cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 5s, evaluation_interval: 10s, external_labels: {ruler: prometheus}}
scrape_configs:
  - job_name: fleet
    honor_labels: true
    metrics_path: /federate
    params: {'match[]': ['{__name__="gateway_spend_usd_total"}']}
    static_configs: [{targets: ["127.0.0.1:$VM_PORT"]}]
rule_files: [fleet-rules.prom.yml]
alerting:
  alertmanagers: [{static_configs: [{targets: ["127.0.0.1:${RCV_PORTS[0]}", "127.0.0.1:${RCV_PORTS[1]}"]}]}]
EOF
"$BIN/prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
	--web.listen-address=127.0.0.1:$PROM_PORT --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)

step "check 1: VictoriaMetrics sees every node"
nodes() { [[ $(vm 'count(count by (node) (up{job="gateway"} == 1))') == 3 ]]; }
wait_for "three nodes in VictoriaMetrics" 120 nodes
curl -sf "http://127.0.0.1:$VM_PORT/api/v1/query" --data-urlencode 'query=count by (node) ({job="gateway"})' |
	jq -r '.data.result[] | "  node \(.metric.node): \(.value[1]) series in VictoriaMetrics"'

step "check 2: each ruler's fleet alert reaches the receiver pair and is delivered once"
# notified RULER: notifications of the fleet alert from one ruler.
notified() {
	curl -sf "http://127.0.0.1:${SIM_PORTS[0]}/sim/notifications" |
		jq --arg r "\"ruler\":\"$1\"" '[.[] | select(tostring | contains("FleetSpendFlowing") and contains($r))] | length'
}
for ruler in vmalert prometheus; do
	at_pair() { [[ $(curl -sf "http://127.0.0.1:${RCV_PORTS[1]}/api/v2/alerts?filter=alertname%3D%22FleetSpendFlowing%22&filter=ruler%3D%22$ruler%22" | jq length) -ge 1 ]]; }
	wait_for "$ruler's FleetSpendFlowing at the receiver pair" 240 at_pair
	delivered() { [[ $(notified "$ruler") -ge 1 ]]; }
	wait_for "the notification of $ruler's fleet alert" 60 delivered
done
sleep 15 # a second delivery, if the pair sent twice, would land by now
for ruler in vmalert prometheus; do
	times=$(notified "$ruler")
	echo "  FleetSpendFlowing from $ruler, sent to both receivers: delivered $times time(s)"
	[[ $times == 1 ]] || fail "$ruler's fleet alert was delivered $times times, not once"
done

step "check 3: VictoriaMetrics stopped for ${OUTAGE}s and restarted loses no sample"
from=$(date +%s)
sleep 20
kill "$vm_pid"
wait "$vm_pid" 2>/dev/null || true
echo "  $(date +%T) VictoriaMetrics stopped; the sidecars keep scraping and queue on their WAL"
sleep "$OUTAGE"
echo "  pending samples per sidecar: $(for p in "${NODE_PORTS[@]}"; do curl -sf "http://127.0.0.1:$p/metrics" | awk '/^prometheus_remote_storage_samples_pending/ {s+=$2} END {printf "%d ", s}'; done)"
start_vm
echo "  $(date +%T) VictoriaMetrics restarted"
sleep 20
to=$(date +%s)
window=$((to - from))s
# count SELECTOR: the node's scraped samples over the window, without
# (local) or with (central) its external label: three families, each
# counted apart, as count_over_time drops the name that tells them apart.
count() {
	local q= m
	for m in gateway_requests_total gateway_tokens_total up; do
		q+="${q:+ + }sum(count_over_time($m{job=\"gateway\"$1}[$window]))"
	done
	echo "$q"
}
caught_up() {
	local i c l
	for i in 0 1 2; do
		c=$(vm "$(count ",node=\"n$((i + 1))\"")" "$to")
		l=$(local_q "${NODE_PORTS[$i]}" "$(count "")" "$to")
		[[ $l =~ ^[0-9]+$ && $c == "$l" ]] || return 1
	done
}
ok=
for _ in $(seq 240); do
	if caught_up; then ok=1 && break; fi
	sleep 0.5
done
for i in 0 1 2; do
	l=$(local_q "${NODE_PORTS[$i]}" "$(count "")" "$to")
	c=$(vm "$(count ",node=\"n$((i + 1))\"")" "$to")
	echo "  node n$((i + 1)): $l samples in its own TSDB over the ${window} window, $c in VictoriaMetrics, lost $((l - c))"
done
[[ -n $ok ]] || fail "samples differ after 120 s of catching up"
step "the fleet holds: every node seen, each ruler's fleet alert delivered once, nothing lost"
