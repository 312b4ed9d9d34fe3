#!/usr/bin/env bash
# Whole-process ingest load: gatewarden as a receiver only, wrk (Debian's
# package) as 8 concurrent clients in another process posting to
# /api/v2/alerts, batches of BATCH (default 100) from 10,000 distinct alerts.
#   make build && scripts/load-ingest.sh            # batches of 100
#   BATCH=1 scripts/load-ingest.sh                  # one alert per request
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
BIN=${BIN:-bin}
GW_ADDR=${GW_ADDR:-127.0.0.1:19097}
DURATION=${DURATION:-20s}
work=$(mktemp -d -t gatewarden-load.XXXXXX)
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
  route: {receiver: blackhole, group_by: [alertname]}
  receivers: [{name: blackhole}]
YML
"$BIN/gatewarden" --config.file="$work/gatewarden.yml" --storage.path="$work/data" \
	--web.listen-address="$GW_ADDR" --log.level=warn >"$work/gw.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://$GW_ADDR/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
export BATCH=${BATCH:-100} DISTINCT=10000
# A warm-up writes the 10,000 alerts once, as a steady sender's would be.
wrk -t2 -c8 -d5s -s scripts/load-ingest.lua "http://$GW_ADDR" >/dev/null
wrk -t2 -c8 -d"$DURATION" --latency -s scripts/load-ingest.lua "http://$GW_ADDR"
echo "alerts per request: $BATCH; RSS $(awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status") MiB"
