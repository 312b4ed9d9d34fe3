#!/usr/bin/env bash
# Measures gatewarden as a receiver only: resident memory with N active
# alerts (default 100,000) posted to /api/v2/alerts in batches of 1,000, to
# compare with Alertmanager measured the same way.
#   make build && scripts/measure-receiver.sh
#   RECEIVER=alertmanager AM=path/to/alertmanager scripts/measure-receiver.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ALERTS=${ALERTS:-100000}
GW_ADDR=${GW_ADDR:-127.0.0.1:19096}
. scripts/receiver-only.sh

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
# Until the receiver holds every alert (gatewarden: written to its store).
until [[ "$(active)" == "$ALERTS" ]]; do sleep 1; done
echo "all $ALERTS active after $((SECONDS - start))s: RSS $(rss) MiB"
for t in 10 60; do
	sleep $((t - ${last:-0})) && last=$t
	echo "$t s later: RSS $(rss) MiB, peak $(peak) MiB"
done
