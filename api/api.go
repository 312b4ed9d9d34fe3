// Package api is gatewarden's admin HTTP API under /admin/: the alert
// lifecycle (list, create, ack, resolve, dismiss, stats), runtime threshold
// overrides, alert channels and the delivery history. Its field names and
// shapes are ez-api's, so an admin console written for ez-api can point at
// gatewarden.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/store"
)

// Reloader is told after a write to overrides so the next evaluation uses
// them without waiting for its periodic refresh.
type Reloader interface {
	Reload(ctx context.Context) error
}

// Rules says which rules are loaded, so overrides are set only for them;
// the evaluator implements it.
type Rules interface {
	HasRule(name string) bool
}

// Channels validates channel configurations and sends test messages; the
// receiver implements it with its delivery integrations.
type Channels interface {
	Validate(typ string, cfg json.RawMessage) error
	Test(ctx context.Context, c store.Channel) error
}

// Options are what the API needs; Store is required.
type Options struct {
	Store *store.Store
	// Guard decides who may call which route (access.Read for reads,
	// access.Admin for writes); the daemon shares one with every API. Nil
	// makes the API's own, which ApplyConfig keeps up to date.
	Guard     *access.Guard
	Overrides Reloader
	Channels  Channels
	// Rules, when set, refuses overrides of a rule that is not loaded.
	Rules  Rules
	Logger *slog.Logger
	// Registerer receives gatewarden_api_* metrics; nil registers none.
	Registerer prometheus.Registerer
}

// API serves the admin endpoints. Its auth settings follow reloads.
type API struct {
	o         Options
	ownGuard  bool
	throttles Throttles
	cfg       atomic.Pointer[config.APIConfig]
	reqs      *prometheus.CounterVec
	dur       *prometheus.HistogramVec
}

// New returns an API that is open (no tokens) until ApplyConfig.
func New(o Options) *API {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	own := o.Guard == nil
	if own {
		o.Guard = access.New()
	}
	a := &API{
		o: o, ownGuard: own,
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_api_requests_total",
			Help: "Admin API requests by route and status code.",
		}, []string{"handler", "code"}),
		dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatewarden_api_request_duration_seconds",
			Help:    "Admin API request durations by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"handler"}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(a.reqs, a.dur)
	}
	a.cfg.Store(&config.APIConfig{MaxBodySize: config.DefaultAPIMaxBodySize})
	return a
}

// ApplyConfig takes the api section of a (re)loaded config.
func (a *API) ApplyConfig(c *config.Config) error {
	api := c.API
	if api.Open() {
		a.o.Logger.Warn("the admin API has no tokens: anyone who reaches the listener can change alerts and channels")
	}
	a.cfg.Store(&api)
	if a.ownGuard {
		a.o.Guard.Apply(c)
	}
	return nil
}

// route is one endpoint: write says whether it needs the admin role.
type route struct {
	pattern string
	write   bool
	h       func(w http.ResponseWriter, r *http.Request) error
}

// Register adds every admin route to mux.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range a.routes() {
		h := a.authorize(rt.write, a.serve(rt.h))
		handler := strings.SplitN(rt.pattern, " ", 2)[1]
		mux.Handle(rt.pattern, promhttp.InstrumentHandlerDuration(a.dur.MustCurryWith(prometheus.Labels{"handler": handler}),
			promhttp.InstrumentHandlerCounter(a.reqs.MustCurryWith(prometheus.Labels{"handler": handler}), h)))
	}
}

func (a *API) routes() []route {
	return append([]route{
		{"GET /admin/alerts", false, a.listAlerts},
		{"POST /admin/alerts", true, a.createAlert},
		{"GET /admin/alerts/stats", false, a.alertStats},
		{"GET /admin/alerts/thresholds", false, a.getThresholds},
		{"PUT /admin/alerts/thresholds", true, a.putThresholds},
		{"GET /admin/alerts/{id}", false, a.getAlert},
		{"POST /admin/alerts/{id}/ack", true, a.ackAlert},
		{"POST /admin/alerts/{id}/resolve", true, a.resolveAlert},
		{"DELETE /admin/alerts/{id}", true, a.dismissAlert},
		{"GET /admin/rules/{name}/overrides", false, a.listOverrides},
		{"PUT /admin/rules/{name}/overrides", true, a.putOverride},
		{"DELETE /admin/rules/{name}/overrides/{id}", true, a.deleteOverride},
		{"GET /admin/alert-channels", false, a.listChannels},
		{"POST /admin/alert-channels", true, a.createChannel},
		{"GET /admin/alert-channels/{id}", false, a.getChannel},
		{"PUT /admin/alert-channels/{id}", true, a.updateChannel},
		{"DELETE /admin/alert-channels/{id}", true, a.deleteChannel},
		{"POST /admin/alert-channels/{id}/test", true, a.testChannel},
		{"GET /admin/alert-history", false, a.listHistory},
	}, append(a.throttleRoutes(), a.consoleRoutes()...)...)
}

// Patterns lists the routes, for the OpenAPI test.
func (a *API) Patterns() []string {
	var out []string
	for _, rt := range a.routes() {
		out = append(out, rt.pattern)
	}
	return out
}

// authorize lets through what the guard allows (a read for any
// credentials, a write for an admin token) and bounds the body.
func (a *API) authorize(write bool, next http.Handler) http.Handler {
	need := access.Read
	if write {
		need = access.Admin
	}
	return a.o.Guard.Require(need, writeError, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, int64(a.cfg.Load().MaxBodySize))
		next.ServeHTTP(w, r)
	}))
}

// httpError is an error with the status code the client should see.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// serve maps a handler's error to a status: the store's sentinels to 404,
// 409 and 503, a body too large to 413. Store errors other than those are
// logged and reported without detail: they may name internals.
func (a *API) serve(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var he *httpError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &he):
			writeError(w, he.code, he.msg)
		case errors.As(err, &mbe):
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", mbe.Limit))
		case errors.Is(err, store.ErrNotFound):
			writeError(w, http.StatusNotFound, "not found")
		case errors.Is(err, store.ErrConflict):
			writeError(w, http.StatusConflict, strings.TrimPrefix(err.Error(), store.ErrConflict.Error()+": "))
		case errors.Is(err, store.ErrUnavailable):
			a.o.Logger.Warn("admin API: store unavailable", "path", r.URL.Path, "err", err)
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "the store is unavailable; try again later")
		case errors.Is(err, context.Canceled):
		default:
			a.o.Logger.Error("admin API request failed", "path", r.URL.Path, "err", err)
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	return json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	_ = writeJSON(w, code, map[string]string{"error": msg})
}

// decode reads one JSON object, refusing unknown fields and trailing data,
// with the decoder's reason in the error.
func decode(r *http.Request, v any) error {
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("invalid JSON body: %v", err)
	}
	if d.More() {
		return badRequest("invalid JSON body: data after the object")
	}
	return nil
}

// pathID reads a positive integer path value.
func pathID(r *http.Request, name string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("%s %q is not a positive integer", name, s)
	}
	return id, nil
}

// queryInt reads an optional non-negative integer query parameter.
func queryInt(r *http.Request, name string, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, badRequest("%s %q is not a non-negative integer", name, s)
	}
	return n, nil
}

// queryTime reads unix seconds or RFC 3339, as Prometheus's API accepts.
func queryTime(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// NaN, infinities and times past the year 9999 would wrap around
		// a millisecond count into nonsense.
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > maxUnixSeconds {
			return time.Time{}, badRequest("%s %q is not a time: unix seconds within ±%g", name, s, float64(maxUnixSeconds))
		}
		return time.UnixMilli(int64(f * 1000)).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest("%s %q is neither unix seconds nor RFC 3339", name, s)
	}
	return t, nil
}

// maxUnixSeconds bounds a time given in unix seconds: the year 9999, as
// RFC 3339 does.
const maxUnixSeconds = 253402300799

// pageParams reads limit and offset: limit default 50, at most 200.
func pageParams(r *http.Request) (limit, offset int, err error) {
	if limit, err = queryInt(r, "limit", 50); err != nil {
		return 0, 0, err
	}
	if limit == 0 {
		limit = 50
	}
	limit = min(limit, 200)
	offset, err = queryInt(r, "offset", 0)
	return limit, offset, err
}

// page is the list envelope.
type page[T any] struct {
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
	Items  []T `json:"items"`
}

// unix is a time as unix seconds, nil (omitted) when unset.
func unix(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	s := t.Unix()
	return &s
}
