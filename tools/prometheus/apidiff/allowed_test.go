package apidiff

const (
	sideGatewarden = "gatewarden"
	sidePrometheus = "Prometheus"
)

// allowance is a key path that only one side has, on purpose.
type allowance struct {
	path   string // below /api/v1, as in request.path
	onlyIn string // sideGatewarden or sidePrometheus
	key    string // as shapeOf writes it
	why    string
}

// allowed lists gatewarden's deliberate differences in shape (the ones
// docs/http-api.md names). Its other deliberate differences are in values,
// which the comparison ignores: label values and series sorted before
// limit cuts them, metadata's limit keeping names in sorted order. Per-step
// statistics (Prometheus's --enable-feature=promql-per-step-stats) are a
// setting of the engine, which both sides share here. An entry no request
// needs fails the test, so the list cannot outlive the difference.
var allowed = []allowance{
	{"/status/buildinfo", sideGatewarden, "data.application:string",
		"names the server as Mimir's build info does; Grafana reads it and, with no features key, still treats gatewarden as Prometheus"},
}

func allowedFor(r request, side, key string) (allowance, bool) {
	for _, a := range allowed {
		if a.path == r.path && a.onlyIn == side && a.key == key {
			return a, true
		}
	}
	return allowance{}, false
}
