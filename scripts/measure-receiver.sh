#!/usr/bin/env bash
# Measures gatewarden as a receiver only: resident memory with N active
# alerts (default 100,000) posted to /api/v2/alerts in batches of 1,000, to
# compare with Alertmanager's figure in docs/benchmarks.md.
#   make build && scripts/measure-receiver.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
ALERTS=${ALERTS:-100000}
GW_ADDR=${GW_ADDR:-127.0.0.1:19096}
work=$(mktemp -d -t gatewarden-rcv.XXXXXX)
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/gatewarden.yml" <<YML
rule_files: []
receiver:
  route:
    receiver: blackhole
    group_by: [alertname]
  receivers:
    - name: blackhole
YML
"$BIN/gatewarden" --config.file="$work/gatewarden.yml" --storage.path="$work/data" \
	--web.listen-address="$GW_ADDR" --log.level=warn >"$work/gw.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://$GW_ADDR/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done

rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status"; }
echo "idle: RSS $(rss) MiB"
start=$SECONDS
for ((b = 0; b < ALERTS / 1000; b++)); do
	awk -v b="$b" 'BEGIN {
		printf "["
		for (i = 0; i < 1000; i++) {
			n = b * 1000 + i
			printf "%s{\"labels\":{\"alertname\":\"Load%d\",\"master\":\"m%d\",\"severity\":\"warning\"},\"annotations\":{\"summary\":\"load test alert %d\"},\"endsAt\":\"2099-01-01T00:00:00Z\"}", (i ? "," : ""), n % 20, n, n
		}
		printf "]"
	}' | curl -sf -X POST "http://$GW_ADDR/api/v2/alerts" -H 'Content-Type: application/json' --data-binary @- >/dev/null
done
echo "posted $ALERTS alerts in $((SECONDS - start))s: RSS $(rss) MiB"
until curl -s "http://$GW_ADDR/metrics" | awk '$1 == "gatewarden_alert_record_pending" && $2 == 0 {found=1} END {exit !found}'; do sleep 1; done
sleep 5
echo "stored (recorder drained): RSS $(rss) MiB"
curl -s "http://$GW_ADDR/admin/alerts/stats"
echo
