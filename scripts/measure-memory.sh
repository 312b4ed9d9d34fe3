#!/usr/bin/env bash
# Measures gatewarden's resident memory per active series: gatewaysim with
# about 100k series, scraped every 10 s for DURATION seconds (default 1800).
# Prints one line a minute and a summary; docs/benchmarks.md records it.
#   make build && scripts/measure-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin}
DURATION=${DURATION:-1800}
MASTERS=${MASTERS:-57} # 57 masters × 10 keys × 5 providers × 4 models ≈ 100k series
SIM_ADDR=${SIM_ADDR:-127.0.0.1:19300}
GW_ADDR=${GW_ADDR:-127.0.0.1:19095}
# Ingest alone by default; RULES="" measures with the built-in rule pack.
RULES=${RULES-"rule_files: []"}
work=$(mktemp -d -t gatewarden-mem.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/gatewarden.yml" <<YML
global:
  scrape_interval: 10s
  scrape_timeout: 9s
scrape_configs:
  - job_name: gateway
    static_configs: [{targets: ["$SIM_ADDR"]}]
$RULES
YML

"$BIN/gatewaysim" --web.listen-address="$SIM_ADDR" --masters="$MASTERS" --keys-per-master=10 \
	--providers=5 --models=4 --bursts-per-hour=0 --log.level=warn >"$work/sim.log" 2>&1 &
pids+=($!)
"$BIN/gatewarden" --config.file="$work/gatewarden.yml" --storage.path="$work/data" \
	--web.listen-address="$GW_ADDR" --log.level=warn >"$work/gw.log" 2>&1 &
gw=$!
pids+=($gw)

metric() { curl -s "http://$GW_ADDR/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
query() { curl -s "http://$GW_ADDR/api/v1/query" --data-urlencode "query=$1" | sed -n 's/.*"value":\[[^,]*,"\([^"]*\)".*/\1/p'; }

printf '%8s %10s %12s %14s %12s\n' elapsed rss_MiB head_series rss_B/series scrape_s
start=$SECONDS
while ((SECONDS - start < DURATION)); do
	sleep 60
	rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$gw/status")
	series=$(metric prometheus_tsdb_head_series)
	scrape=$(query 'max_over_time(scrape_duration_seconds{job="gateway"}[1m])')
	printf '%8s %10.1f %12s %14.0f %12s\n' "$((SECONDS - start))s" "$(echo "$rss_kb/1024" | bc -l)" \
		"$series" "$(echo "$rss_kb*1024/$series" | bc -l)" "$scrape"
done
echo "after ${DURATION}s: RSS $(echo "$rss_kb/1024" | bc -l | xargs printf '%.1f') MiB for $series series = $(echo "$rss_kb*1024/$series" | bc -l | xargs printf '%.0f') bytes per series"
echo "gatewarden CPU over the run: $(metric process_cpu_seconds_total)s; Go heap in use $(metric go_memstats_heap_inuse_bytes | awk '{printf "%.1f", $1/1048576}') MiB, GOGC $(metric go_gc_gogc_percent)"
echo "scrape duration over the run: p50 $(query 'quantile_over_time(0.5, scrape_duration_seconds{job="gateway"}[1h])')s, max $(query 'max_over_time(scrape_duration_seconds{job="gateway"}[1h])')s"
