#!/usr/bin/env bash
# Whole-process ingest load: gatewarden as a receiver only, wrk (Debian's
# package) as 8 concurrent clients in another process posting to
# /api/v2/alerts, batches of BATCH (default 100) from 10,000 distinct alerts.
#   make build && scripts/load-ingest.sh            # batches of 100
#   BATCH=1 scripts/load-ingest.sh                  # one alert per request
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
GW_ADDR=${GW_ADDR:-127.0.0.1:19097}
DURATION=${DURATION:-20s}
. scripts/receiver-only.sh
export BATCH=${BATCH:-100} DISTINCT=10000
# A warm-up writes the 10,000 alerts once, as a steady sender's would be.
wrk -t2 -c8 -d5s -s scripts/load-ingest.lua "http://$GW_ADDR" >/dev/null
wrk -t2 -c8 -d"$DURATION" --latency -s scripts/load-ingest.lua "http://$GW_ADDR"
echo "alerts per request: $BATCH; RSS $(rss) MiB"
