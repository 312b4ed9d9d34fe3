// Package promapi serves the read side of the Prometheus HTTP API
// (/api/v1/...) over gatewarden's local TSDB, so that Grafana and other
// Prometheus clients can use gatewarden as a Prometheus data source.
//
// Response bodies, parameter parsing, error types and status codes follow
// Prometheus's web/api/v1 byte for byte where clients can tell the
// difference. That package is not imported because it pulls in the whole
// Prometheus server (scrape, rules, remote storage, notifier, ...).
package promapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/gatewarden/gatewarden/collector"
	"github.com/gatewarden/gatewarden/config"
)

// TargetSource lists the scrape targets shown by /api/v1/targets.
type TargetSource interface {
	Targets() []collector.TargetStatus
}

// MetadataSource lists what each target said of its metrics, for
// /api/v1/metadata and /api/v1/targets/metadata.
type MetadataSource interface {
	Metadata() []collector.TargetMetadata
}

// Options configures an API. Only Queryable is required.
type Options struct {
	Queryable storage.Queryable
	// Engine evaluates PromQL; nil means NewEngine(nil, Logger, 0, 0).
	Engine *promql.Engine
	// Targets may be nil: the targets endpoint then lists no targets.
	Targets TargetSource
	// Rules may be nil: the rules and alerts endpoints then list none.
	Rules RuleSource
	// Now is the clock for default query times; nil means time.Now.
	Now func() time.Time
	// BuildInfo holds version, revision, branch, buildUser, buildDate and
	// goVersion, as served by /api/v1/status/buildinfo.
	BuildInfo map[string]string
	Logger    *slog.Logger

	// Metadata may be nil: the metadata endpoints then list none.
	Metadata MetadataSource
	// Config is the running config for /status/config and the retention
	// in /status/runtimeinfo; nil shows an empty config.
	Config func() *config.Config
	// Reloaded says whether the last config reload worked, and when the
	// last one that did happened; nil reports success at StartTime.
	Reloaded func() (ok bool, at time.Time)
	// Flags are the command line flags, for /status/flags.
	Flags     map[string]string
	StartTime time.Time
	// Head is the TSDB whose head /status/tsdb describes; nil answers
	// empty statistics.
	Head interface{ Head() *tsdb.Head }
	// DBStats holds the WAL replay progress given to tsdb.Open.
	DBStats *tsdb.DBStats
	// Gatherer has the TSDB's metrics (prometheus_tsdb_head_chunks).
	Gatherer prometheus.Gatherer
	// Alertmanagers lists where the evaluator's alerts go.
	Alertmanagers func() []*url.URL
}

// API serves the Prometheus HTTP API. Create it with New.
type API struct {
	queryable storage.Queryable
	engine    *promql.Engine
	// parser reads match[] selectors and exemplar queries.
	parser    parser.Parser
	targets   TargetSource
	rules     RuleSource
	now       func() time.Time
	buildInfo buildInfo
	logger    *slog.Logger
	opts      Options // what the status endpoints read
}

// New returns an API over o.Queryable.
func New(o Options) *API {
	if o.Queryable == nil {
		// Fail at wiring time rather than on the first request.
		panic("promapi: Options.Queryable is required")
	}
	a := &API{
		queryable: o.Queryable,
		engine:    o.Engine,
		parser:    newParser(),
		targets:   o.Targets,
		rules:     o.Rules,
		now:       o.Now,
		buildInfo: newBuildInfo(o.BuildInfo),
		logger:    o.Logger,
		opts:      o,
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.engine == nil {
		a.engine = NewEngine(nil, a.logger, 0, 0)
	}
	return a
}

// prefix is where Register mounts the API.
const prefix = "/api/v1"

var (
	getOnly = []string{http.MethodGet}
	getPost = []string{http.MethodGet, http.MethodPost}
)

// route is one endpoint. Endpoints added in other files (rules, alerts)
// only need an entry in routes.
type route struct {
	methods []string
	path    string // below prefix, in http.ServeMux pattern syntax
	handle  apiFunc
}

// routes lists the endpoints with the methods Prometheus accepts for each.
func (a *API) routes() []route {
	return []route{
		{getPost, "/query", a.query},
		{getPost, "/query_range", a.queryRange},
		{getPost, "/query_exemplars", a.queryExemplars},
		{getPost, "/format_query", a.formatQuery},
		{getPost, "/parse_query", a.parseQuery},
		{getPost, "/series", a.series},
		{getPost, "/labels", a.labelNames},
		{getOnly, "/label/{name}/values", a.labelValues},
		{getOnly, "/targets", a.targetList},
		{getOnly, "/targets/metadata", a.targetMetadata},
		{getOnly, "/scrape_pools", a.scrapePools},
		{getOnly, "/metadata", a.metricMetadata},
		{getOnly, "/alertmanagers", a.alertmanagers},
		{getOnly, "/notifications", a.notifications},
		{getOnly, "/status/buildinfo", a.serveBuildInfo},
		{getOnly, "/status/config", a.serveConfig},
		{getOnly, "/status/flags", a.serveFlags},
		{getOnly, "/status/runtimeinfo", a.serveRuntimeInfo},
		{getOnly, "/status/tsdb", a.serveTSDBStatus},
		{getOnly, "/status/walreplay", a.serveWALReplay},
		{getOnly, "/rules", a.ruleList},
		{getOnly, "/alerts", a.alertList},
	}
}

// Patterns lists the endpoints as Register mounts them ("GET /api/v1/query").
func Patterns() []string {
	var out []string
	for _, rt := range (&API{}).routes() {
		for _, m := range rt.methods {
			out = append(out, m+" "+prefix+rt.path)
		}
	}
	return out
}

// Register adds the API's endpoints to mux below /api/v1/. Requests with
// other methods get the mux's 405 with an Allow header.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.routes() {
		h := a.wrap(rt.handle)
		for _, m := range rt.methods {
			mux.Handle(m+" "+prefix+rt.path, h)
		}
	}
}

// apiFunc handles one request. Handlers return their outcome instead of
// writing it so that the envelope and status codes live in one place.
type apiFunc func(r *http.Request) result

type result struct {
	data     any
	err      *apiError
	warnings annotations.Annotations
	// query is the PromQL text, used to place positions in annotations.
	query string
	// finalizer runs after the response is written: query results and
	// label strings may point into storage that Close releases.
	finalizer func()
}

func success(data any) result {
	return result{data: data}
}

func failure(e *apiError) result {
	return result{err: e}
}

func (a *API) wrap(f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Parsing up front makes POST bodies (form-encoded as Grafana
		// sends them, or multipart) and repeated match[] parameters
		// available to every handler the same way.
		if err := r.ParseMultipartForm(maxFormMemory); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			a.respondError(w, &apiError{errBadData, fmt.Errorf("error parsing form values: %w", err)})
			return
		}
		res := f(r)
		if res.finalizer != nil {
			defer res.finalizer()
		}
		switch {
		case res.err != nil:
			a.respondError(w, res.err)
		case res.data == nil:
			w.WriteHeader(http.StatusNoContent)
		default:
			a.respond(w, r, res)
		}
	})
}

// maxFormMemory is what net/http's Request.FormValue would use.
const maxFormMemory = 32 << 20

type errorType string

// Error types as Prometheus names them in the "errorType" field.
const (
	errTimeout  errorType = "timeout"
	errCanceled errorType = "canceled"
	errExec     errorType = "execution"
	errBadData  errorType = "bad_data"
	errInternal errorType = "internal"
)

// statusClientClosed is nginx's code for a client that went away, which
// Prometheus answers for canceled queries.
const statusClientClosed = 499

func (t errorType) status() int {
	switch t {
	case errBadData:
		return http.StatusBadRequest
	case errExec:
		return http.StatusUnprocessableEntity
	case errCanceled:
		return statusClientClosed
	case errTimeout:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

type apiError struct {
	typ errorType
	err error
}

func paramError(err error, name string) *apiError {
	return &apiError{errBadData, fmt.Errorf("invalid parameter %q: %w", name, err)}
}

// storageError classifies errors from the engine and the storage as
// Prometheus does: the client learns whether retrying can help.
func storageError(err error) *apiError {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storage  promql.ErrStorage
	)
	switch {
	case errors.As(err, &canceled):
		return &apiError{errCanceled, err}
	case errors.As(err, &timeout):
		return &apiError{errTimeout, err}
	case errors.As(err, &storage):
		return &apiError{errInternal, err}
	case errors.Is(err, context.Canceled):
		return &apiError{errCanceled, err}
	}
	return &apiError{errExec, err}
}

// Prometheus caps the annotations it returns at 10 of each kind.
const maxAnnotations = 10

func (a *API) respond(w http.ResponseWriter, r *http.Request, res result) {
	warnings, infos := res.warnings.AsStrings(res.query, maxAnnotations, maxAnnotations)
	buf := getBuffer()
	defer putBuffer(buf)
	b := append(buf.b[:0], `{"status":"success","data":`...)
	b, err := appendData(b, res.data)
	if err != nil {
		a.logger.Error("Error marshaling response", "url", r.URL, "err", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b = appendStrings(b, "warnings", warnings)
	b = appendStrings(b, "infos", infos)
	b = append(b, '}')
	buf.b = b
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(b); err != nil {
		a.logger.Debug("Error writing response", "url", r.URL, "err", err)
	}
}

// appendStrings adds `,"name":[...]`, leaving out empty lists as
// Prometheus's omitempty does.
func appendStrings(b []byte, name string, ss []string) []byte {
	if len(ss) == 0 {
		return b
	}
	b = append(b, ',')
	b = appendString(b, name)
	b = append(b, ":["...)
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

type errorBody struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

// Denial refuses a request without the credentials it needs in the API's
// error format (Prometheus itself has no auth; the shape is its errors').
func Denial(w http.ResponseWriter, code int, msg string) {
	typ := "unauthorized"
	if code == http.StatusForbidden {
		typ = "forbidden"
	}
	b, _ := json.Marshal(errorBody{Status: "error", ErrorType: typ, Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func (a *API) respondError(w http.ResponseWriter, e *apiError) {
	b, err := json.Marshal(errorBody{Status: "error", ErrorType: string(e.typ), Error: e.err.Error()})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.typ.status())
	if _, err := w.Write(b); err != nil {
		a.logger.Debug("Error writing error response", "err", err)
	}
}
