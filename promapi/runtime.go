package promapi

import (
	"errors"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/common/model"
)

// configStatus is the "data" of /status/config.
type configStatus struct {
	YAML string `json:"yaml"`
}

// serveConfig shows the running gatewarden.yml, every secret "<secret>".
func (a *API) serveConfig(*http.Request) result {
	if a.opts.Config == nil {
		return success(configStatus{})
	}
	y, err := a.opts.Config().Redacted()
	if err != nil {
		return failure(&apiError{errInternal, err})
	}
	return success(configStatus{YAML: y})
}

func (a *API) serveFlags(*http.Request) result {
	if a.opts.Flags == nil {
		return success(map[string]string{})
	}
	return success(a.opts.Flags)
}

// runtimeInfo is the "data" of /status/runtimeinfo, Prometheus's fields.
type runtimeInfo struct {
	StartTime           time.Time `json:"startTime"`
	CWD                 string    `json:"CWD"`
	Hostname            string    `json:"hostname"`
	ServerTime          time.Time `json:"serverTime"`
	ReloadConfigSuccess bool      `json:"reloadConfigSuccess"`
	LastConfigTime      time.Time `json:"lastConfigTime"`
	CorruptionCount     int64     `json:"corruptionCount"`
	GoroutineCount      int       `json:"goroutineCount"`
	GOMAXPROCS          int       `json:"GOMAXPROCS"`
	GOMEMLIMIT          int64     `json:"GOMEMLIMIT"`
	GOGC                string    `json:"GOGC"`
	GODEBUG             string    `json:"GODEBUG"`
	StorageRetention    string    `json:"storageRetention"`
}

func (a *API) serveRuntimeInfo(*http.Request) result {
	ri := runtimeInfo{
		StartTime:           a.opts.StartTime,
		ServerTime:          a.now().UTC(),
		ReloadConfigSuccess: true,
		LastConfigTime:      a.opts.StartTime,
		GoroutineCount:      runtime.NumGoroutine(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		GOMEMLIMIT:          debug.SetMemoryLimit(-1), // -1 reads without setting
		GOGC:                os.Getenv("GOGC"),
		GODEBUG:             os.Getenv("GODEBUG"),
	}
	var err error
	if ri.CWD, err = os.Getwd(); err != nil {
		ri.CWD = "<error retrieving current working directory>"
	}
	if ri.Hostname, err = os.Hostname(); err != nil {
		return failure(&apiError{errInternal, errors.Join(errors.New("error getting hostname"), err)})
	}
	if a.opts.Reloaded != nil {
		ri.ReloadConfigSuccess, ri.LastConfigTime = a.opts.Reloaded()
	}
	if a.opts.Config != nil {
		ri.StorageRetention = model.Duration(a.opts.Config().Storage.Retention).String()
	}
	return success(ri)
}
