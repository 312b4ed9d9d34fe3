# Sourced by the receiver measurements: starts gatewarden as a receiver
# only (a route to a receiver without integrations) on GW_ADDR in a temp
# dir, stops it and removes the dir at exit, and offers rss (MiB) and
# active (alerts the receiver holds as active).
# RECEIVER=alertmanager AM=path/to/alertmanager starts Alertmanager with
# the same route instead, for the comparison the targets are set against.
BIN=${BIN:-bin}
RECEIVER=${RECEIVER:-gatewarden}
work=$(mktemp -d -t gatewarden-rcv.XXXXXX)
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
route='route: {receiver: blackhole, group_by: [alertname]}
receivers: [{name: blackhole}]'
case $RECEIVER in
gatewarden)
	printf 'rule_files: []\nreceiver:\n%s\n' "$(sed 's/^/  /' <<<"$route")" >"$work/gatewarden.yml"
	"$BIN/gatewarden" --config.file="$work/gatewarden.yml" --storage.path="$work/data" \
		--web.listen-address="$GW_ADDR" --log.level=warn >"$work/gw.log" 2>&1 &
	active() { curl -s "http://$GW_ADDR/admin/alerts/stats" | sed -n 's/.*"active":\([0-9]*\).*/\1/p'; }
	;;
alertmanager)
	[[ -x ${AM:-} ]] || { echo "RECEIVER=alertmanager needs AM=path/to/alertmanager" >&2; exit 1; }
	echo "$route" >"$work/alertmanager.yml"
	"$AM" --config.file="$work/alertmanager.yml" --storage.path="$work/data" \
		--web.listen-address="$GW_ADDR" --cluster.listen-address= --log.level=warn >"$work/am.log" 2>&1 &
	active() { curl -s "http://$GW_ADDR/metrics" | awk '$1 == "alertmanager_alerts{state=\"active\"}" {print $2}'; }
	;;
*) echo "RECEIVER is gatewarden or alertmanager, not $RECEIVER" >&2; exit 1 ;;
esac
pid=$!
for _ in $(seq 100); do curl -sf "http://$GW_ADDR/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status"; }
peak() { awk '/^VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status"; }
