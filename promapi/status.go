package promapi

import (
	"errors"
	"net/http"
	"runtime"
	"strconv"
)

// buildInfo is the "data" of /status/buildinfo. Grafana reads version to
// decide which Prometheus features it may use.
type buildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

func newBuildInfo(m map[string]string) buildInfo {
	bi := buildInfo{
		Version:   m["version"],
		Revision:  m["revision"],
		Branch:    m["branch"],
		BuildUser: m["buildUser"],
		BuildDate: m["buildDate"],
		GoVersion: m["goVersion"],
	}
	if bi.GoVersion == "" {
		bi.GoVersion = runtime.Version()
	}
	return bi
}

func (a *API) serveBuildInfo(*http.Request) result {
	return success(a.buildInfo)
}

// metricMetadata validates its parameters as Prometheus does and returns
// an empty object: the collector does not keep HELP/TYPE/UNIT yet.
func (a *API) metricMetadata(r *http.Request) result {
	for _, name := range []string{"limit", "limit_per_metric"} {
		if s := r.FormValue(name); s != "" {
			if _, err := strconv.Atoi(s); err != nil {
				return failure(&apiError{errBadData, errors.New(name + " must be a number")})
			}
		}
	}
	return success(map[string][]struct{}{})
}
