# Sourced by the receiver measurements: starts gatewarden as a receiver
# only (a route to a receiver without integrations) on GW_ADDR in a temp
# dir, stops it and removes the dir at exit, and offers rss (MiB).
BIN=${BIN:-bin}
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
  route: {receiver: blackhole, group_by: [alertname]}
  receivers: [{name: blackhole}]
YML
"$BIN/gatewarden" --config.file="$work/gatewarden.yml" --storage.path="$work/data" \
	--web.listen-address="$GW_ADDR" --log.level=warn >"$work/gw.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://$GW_ADDR/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status"; }
