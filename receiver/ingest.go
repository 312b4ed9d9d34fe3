package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/access"
)

// ingestWait bounds how long a request waits for its alerts to be in the
// store; past it the sender is told to retry (503), and the alerts are
// written anyway when the store catches up.
const ingestWait = 10 * time.Second

// DefaultResolveTimeout is Alertmanager's resolve_timeout: a firing alert
// posted without endsAt is taken as resolved after this long without an
// update.
const DefaultResolveTimeout = 5 * time.Minute

// Ingest serves what Alertmanager and Prometheus send: Alertmanager's API
// v2 alerts endpoint and its webhook payload.
type Ingest struct {
	inbox          Inbox
	log            *slog.Logger
	now            func() time.Time
	resolveTimeout time.Duration
	settings       atomic.Pointer[ingestSettings]
	sets           interned

	received *prometheus.CounterVec
	invalid  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// ingestSettings follow reloads.
type ingestSettings struct {
	enabled bool
	maxBody int64
}

// Configure applies a (re)loaded receiver section: whether ingest is on at
// all, and the body limit. Who may post is the access guard's.
func (in *Ingest) Configure(enabled bool, maxBody int64) {
	if maxBody <= 0 {
		maxBody = 16 << 20
	}
	in.settings.Store(&ingestSettings{enabled: enabled, maxBody: maxBody})
}

// IngestOptions configure NewIngest.
type IngestOptions struct {
	Inbox          Inbox
	MaxBodySize    int64
	ResolveTimeout time.Duration
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	Now            func() time.Time
}

// NewIngest returns the ingest endpoints.
func NewIngest(o IngestOptions) *Ingest {
	in := &Ingest{inbox: o.Inbox, log: o.Logger, now: o.Now, resolveTimeout: o.ResolveTimeout}
	in.Configure(true, o.MaxBodySize)
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if in.now == nil {
		in.now = time.Now
	}
	if in.resolveTimeout <= 0 {
		in.resolveTimeout = DefaultResolveTimeout
	}
	in.received = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewarden_receiver_alerts_received_total",
		Help: "Alerts accepted by the receiver, by ingest API.",
	}, []string{"api"})
	in.invalid = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewarden_receiver_alerts_invalid_total",
		Help: "Alerts refused as invalid, by ingest API.",
	}, []string{"api"})
	in.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatewarden_receiver_ingest_duration_seconds",
		Help:    "Duration of ingest requests, by API.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
	}, []string{"api"})
	if o.Registerer != nil {
		o.Registerer.MustRegister(in.received, in.invalid, in.duration)
	}
	return in
}

// Register adds the ingest routes, for the ingest credentials (or an admin
// token).
func (in *Ingest) Register(mux *http.ServeMux, guard *access.Guard) {
	mux.Handle("POST /api/v2/alerts", guard.Require(access.Ingest, Denial, in.handle("v2", in.decodeV2)))
	mux.Handle("POST /api/v1/webhook/alertmanager", guard.Require(access.Ingest, Denial, in.handle("webhook", in.decodeWebhook)))
}

// Denial refuses a request to the Alertmanager-style endpoints in their
// error format.
func Denial(w http.ResponseWriter, code int, msg string) { ingestError(w, code, msg) }

// decoder reads a body into alerts, returning the invalid ones' reasons
// beside the valid ones.
type decoder func(body io.Reader, now time.Time) ([]Alert, []string, error)

func (in *Ingest) handle(api string, dec decoder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() { in.duration.WithLabelValues(api).Observe(time.Since(start).Seconds()) }()
		set := in.settings.Load()
		if !set.enabled {
			ingestError(w, http.StatusNotFound, "no receiver is configured: add a receiver section to gatewarden.yml")
			return
		}
		alerts, invalid, err := dec(http.MaxBytesReader(w, r.Body, set.maxBody), in.now())
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			ingestError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", mbe.Limit))
			return
		case err != nil:
			ingestError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
			return
		}
		in.invalid.WithLabelValues(api).Add(float64(len(invalid)))
		ctx, cancel := context.WithTimeout(r.Context(), ingestWait)
		err = in.inbox.Take(ctx, alerts, false)
		cancel()
		if err != nil {
			w.Header().Set("Retry-After", "5")
			ingestError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		in.received.WithLabelValues(api).Add(float64(len(alerts)))
		if len(invalid) > 0 {
			// As Alertmanager: the valid alerts are taken, the answer says
			// which were not.
			ingestError(w, http.StatusBadRequest, strings.Join(invalid, "; "))
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

func ingestError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "error": msg})
}

// postable is what ingest reads of one alert of Alertmanager's API v2 and
// of its webhook (alertDecoder reads it).
type postable struct {
	Status       string
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
	fp           string // the labels' fingerprint
}

// normalize validates as Alertmanager does and fills its defaults: a start
// of now, and an end resolve_timeout ahead for a firing alert without one.
func (in *Ingest) normalize(p postable, now time.Time, resolved bool) (Alert, error) {
	if len(p.Labels) == 0 {
		return Alert{}, fmt.Errorf("alert without labels")
	}
	// LabelSet.Validate's checks, without building a LabelSet per alert
	// on the hot path; one is built for the message only.
	for k, v := range p.Labels {
		if !model.LabelName(k).IsValid() {
			return Alert{}, fmt.Errorf("alert %s: invalid name %q", labelSet(p.Labels), k)
		}
		if !model.LabelValue(v).IsValid() {
			return Alert{}, fmt.Errorf("alert %s: invalid value %q", labelSet(p.Labels), v)
		}
	}
	a := Alert{Labels: p.Labels, Annotations: p.Annotations, StartsAt: p.StartsAt, EndsAt: p.EndsAt, GeneratorURL: p.GeneratorURL, fp: p.fp}
	if a.StartsAt.IsZero() {
		a.StartsAt = now
		if !a.EndsAt.IsZero() && a.EndsAt.Before(now) {
			a.StartsAt = a.EndsAt
		}
	}
	switch {
	case resolved && (a.EndsAt.IsZero() || a.EndsAt.After(now)):
		a.EndsAt = now
	case !resolved && a.EndsAt.IsZero():
		a.EndsAt = now.Add(in.resolveTimeout)
	}
	if a.EndsAt.Before(a.StartsAt) {
		return Alert{}, fmt.Errorf("alert %s: endsAt %s is before startsAt %s", labelSet(p.Labels), a.EndsAt.Format(time.RFC3339), a.StartsAt.Format(time.RFC3339))
	}
	return a, nil
}

func (in *Ingest) decodeV2(body io.Reader, now time.Time) ([]Alert, []string, error) {
	ps, err := newAlertDecoder(body, &in.sets).alerts()
	if err != nil {
		return nil, nil, err
	}
	return in.collect(ps, now, func(postable) bool { return false })
}

// decodeWebhook reads Alertmanager's webhook payload, version 4; its other
// members (groupKey, receiver, notification_reason, ...) are ignored.
func (in *Ingest) decodeWebhook(body io.Reader, now time.Time) ([]Alert, []string, error) {
	version, ps, err := newAlertDecoder(body, &in.sets).webhook()
	if err != nil {
		return nil, nil, err
	}
	if version != "" && version != "4" {
		return nil, nil, fmt.Errorf("webhook payload version %q: gatewarden reads version 4", version)
	}
	return in.collect(ps, now, func(p postable) bool { return p.Status == string(model.AlertResolved) })
}

// collect normalizes every alert; a batch repeating a fingerprint keeps
// its last copy, so at-least-once senders collapse.
func (in *Ingest) collect(ps []postable, now time.Time, resolved func(postable) bool) ([]Alert, []string, error) {
	out := make([]Alert, 0, len(ps))
	seen := make(map[string]int, len(ps))
	var invalid []string
	for _, p := range ps {
		a, err := in.normalize(p, now, resolved(p))
		if err != nil {
			invalid = append(invalid, err.Error())
			continue
		}
		fp := a.Fingerprint()
		if i, dup := seen[fp]; dup {
			out[i] = a
			continue
		}
		seen[fp] = len(out)
		out = append(out, a)
	}
	return out, invalid, nil
}
