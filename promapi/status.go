package promapi

import (
	"net/http"
	"runtime"
)

// buildInfo is the "data" of /status/buildinfo. Grafana reads version to
// decide which Prometheus features it may use.
type buildInfo struct {
	// Application names the server, as Mimir's build info does; Grafana
	// reads it, and with no "features" still treats the data source as
	// Prometheus.
	Application string `json:"application,omitempty"`
	Version     string `json:"version"`
	Revision    string `json:"revision"`
	Branch      string `json:"branch"`
	BuildUser   string `json:"buildUser"`
	BuildDate   string `json:"buildDate"`
	GoVersion   string `json:"goVersion"`
}

func newBuildInfo(m map[string]string) buildInfo {
	bi := buildInfo{
		Application: m["application"],
		Version:     m["version"],
		Revision:    m["revision"],
		Branch:      m["branch"],
		BuildUser:   m["buildUser"],
		BuildDate:   m["buildDate"],
		GoVersion:   m["goVersion"],
	}
	if bi.GoVersion == "" {
		bi.GoVersion = runtime.Version()
	}
	return bi
}

func (a *API) serveBuildInfo(*http.Request) result {
	return success(a.buildInfo)
}
