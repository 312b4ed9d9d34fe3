package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/config"
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
	groups         Groups
	log            *slog.Logger
	now            func() time.Time
	resolveTimeout time.Duration
	settings       atomic.Pointer[IngestConfig]
	sets           interned
	inflight       inflight
	// decoding admits as many requests to decoding as there are CPUs, so
	// that a flood of large batches leaves the scheduler a core for
	// everything else (health checks, scrapes, the dispatcher) instead of
	// queueing every goroutine behind a dozen decoders.
	decoding chan struct{}

	received *prometheus.CounterVec
	invalid  *prometheus.CounterVec
	rejected *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// IngestConfig is what a (re)loaded receiver section sets of ingest; who
// may post is the access guard's.
type IngestConfig struct {
	// Enabled: without a receiver section ingest answers 404.
	Enabled bool
	// MaxBodySize bounds a request body (16 MiB if 0).
	MaxBodySize int64
	// UTF8Names checks label and annotation names as Alertmanager's
	// default does (any non-empty UTF-8) instead of Prometheus's classic
	// rule.
	UTF8Names bool
	Limits    Limits
}

// IngestConfigFrom is what a receiver section sets of ingest.
func IngestConfigFrom(rc *config.ReceiverConfig) IngestConfig {
	l := rc.Limits
	return IngestConfig{Enabled: true, MaxBodySize: int64(rc.MaxBodySize), UTF8Names: rc.LabelNameValidation == "utf8",
		Limits: Limits{MaxAlerts: l.MaxAlerts, MaxGroups: l.MaxAggregationGroups, MaxAlertSize: int(l.MaxAlertSize), MaxAlertsSize: int64(l.MaxAlertsSize), MaxLabels: l.MaxLabelsPerAlert}}
}

// Configure applies a (re)loaded receiver section.
func (in *Ingest) Configure(c IngestConfig) {
	if c.MaxBodySize <= 0 {
		c.MaxBodySize = 16 << 20
	}
	in.settings.Store(&c)
}

// IngestOptions configure NewIngest.
type IngestOptions struct {
	Inbox Inbox
	// Groups, when set, is asked for the aggregation group limit.
	Groups         Groups
	MaxBodySize    int64
	ResolveTimeout time.Duration
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	Now            func() time.Time
}

// NewIngest returns the ingest endpoints.
func NewIngest(o IngestOptions) *Ingest {
	in := &Ingest{inbox: o.Inbox, groups: o.Groups, log: o.Logger, now: o.Now, resolveTimeout: o.ResolveTimeout,
		decoding: make(chan struct{}, runtime.GOMAXPROCS(0))}
	in.Configure(IngestConfig{Enabled: true, MaxBodySize: o.MaxBodySize})
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
		registerLimitGauges(o.Registerer, o.Inbox.Episodes)
	}
	in.rejected = newRejectedCounter(o.Registerer)
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
type decoder func(body io.Reader, now time.Time, set *IngestConfig) ([]Alert, []string, error)

func (in *Ingest) handle(api string, dec decoder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() { in.duration.WithLabelValues(api).Observe(time.Since(start).Seconds()) }()
		set := in.settings.Load()
		if !set.Enabled {
			ingestError(w, http.StatusNotFound, "no receiver is configured: add a receiver section to gatewarden.yml")
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				ingestError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send application/json", ct))
				return
			}
		}
		// The body is read before a decoding slot is taken, so a client
		// that sends slowly holds a connection, not a slot.
		body, err := readBody(w, r, set.MaxBodySize)
		if err != nil {
			ingestError(w, http.StatusRequestEntityTooLarge, err.Error())
			return
		}
		select {
		case in.decoding <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		now := in.now()
		alerts, invalid, err := dec(bytes.NewReader(body), now, set)
		<-in.decoding
		if err != nil {
			ingestError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
			return
		}
		in.invalid.WithLabelValues(api).Add(float64(len(invalid)))
		alerts, refused, admitted := in.admit(alerts, set.Limits, now)
		ctx, cancel := context.WithTimeout(r.Context(), ingestWait)
		err = in.inbox.Take(ctx, alerts, false)
		cancel()
		in.inflight.done(admitted)
		if err != nil {
			w.Header().Set("Retry-After", "5")
			ingestError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		in.received.WithLabelValues(api).Add(float64(len(alerts)))
		switch {
		case len(invalid) > 0:
			// As Alertmanager: the valid alerts are taken, the answer says
			// which were not.
			msg := strings.Join(invalid, "; ")
			if len(refused) > 0 {
				msg += "; " + refused.message(set.Limits)
			}
			ingestError(w, http.StatusBadRequest, msg)
		case len(refused) > 0:
			w.Header().Set("Retry-After", "60")
			ingestError(w, http.StatusTooManyRequests, refused.message(set.Limits))
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
}

// readBody reads a request body of at most limit bytes; the error says
// that it was larger.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= limit {
		buf.Grow(int(n) + 1)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("request body larger than %d bytes", mbe.Limit)
	}
	// A body cut short decodes as truncated JSON, which says what it is.
	return buf.Bytes(), nil
}

// ingestError answers in Alertmanager's form: the reason as a JSON
// string, which is what its generated clients (amtool, Grafana's) decode a
// 400 or 500 into; an object would make amtool print a decoding error
// instead of the reason.
func ingestError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(msg)
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
// Label and annotation names are checked by the configured scheme, and an
// alert needs a non-empty alertname (every Prometheus and Alertmanager
// sends one; an alert without is no alert anyone can route or silence).
func (in *Ingest) normalize(p postable, now time.Time, resolved bool, set *IngestConfig) (Alert, error) {
	if len(p.Labels) == 0 {
		return Alert{}, fmt.Errorf("alert without labels")
	}
	if p.Labels[model.AlertNameLabel] == "" {
		return Alert{}, fmt.Errorf("alert %s: no alertname", labelSet(p.Labels))
	}
	validName := model.LegacyValidation.IsValidLabelName
	if set.UTF8Names {
		validName = func(n string) bool { return n != "" && utf8.ValidString(n) }
	}
	// LabelSet.Validate's checks, without building a LabelSet per alert
	// on the hot path; one is built for the message only.
	for k, v := range p.Labels {
		if !validName(k) {
			return Alert{}, fmt.Errorf("alert %s: invalid label name %q", labelSet(p.Labels), k)
		}
		if !model.LabelValue(v).IsValid() {
			return Alert{}, fmt.Errorf("alert %s: invalid label value %q", labelSet(p.Labels), v)
		}
	}
	for k, v := range p.Annotations {
		if !validName(k) || !model.LabelValue(v).IsValid() {
			return Alert{}, fmt.Errorf("alert %s: invalid annotation %q", labelSet(p.Labels), k)
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

func (in *Ingest) decodeV2(body io.Reader, now time.Time, set *IngestConfig) ([]Alert, []string, error) {
	ps, err := newAlertDecoder(body, &in.sets).top()
	if err != nil {
		return nil, nil, err
	}
	return in.collect(ps, now, set, func(postable) bool { return false })
}

// decodeWebhook reads Alertmanager's webhook payload, version 4; its other
// members (groupKey, receiver, notification_reason, ...) are ignored.
func (in *Ingest) decodeWebhook(body io.Reader, now time.Time, set *IngestConfig) ([]Alert, []string, error) {
	version, ps, err := newAlertDecoder(body, &in.sets).topWebhook()
	if err != nil {
		return nil, nil, err
	}
	if version != "" && version != "4" {
		return nil, nil, fmt.Errorf("webhook payload version %q: gatewarden reads version 4", version)
	}
	return in.collect(ps, now, set, func(p postable) bool { return p.Status == string(model.AlertResolved) })
}

// collect normalizes every alert; a batch repeating a fingerprint keeps
// its last copy, so at-least-once senders collapse.
func (in *Ingest) collect(ps []postable, now time.Time, set *IngestConfig, resolved func(postable) bool) ([]Alert, []string, error) {
	out := make([]Alert, 0, len(ps))
	seen := make(map[string]int, len(ps))
	var invalid []string
	for _, p := range ps {
		a, err := in.normalize(p, now, resolved(p), set)
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
