package promapi

import (
	"net/http"
	"runtime"
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
