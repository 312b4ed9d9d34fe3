package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/store"
)

// SilenceStore keeps silences; the store implements it.
type SilenceStore interface {
	CreateSilence(ctx context.Context, s store.Silence) (store.Silence, error)
	UpdateSilence(ctx context.Context, s store.Silence) (store.Silence, error)
	GetSilence(ctx context.Context, id string) (store.Silence, error)
	ListSilences(ctx context.Context, f store.SilenceFilter) ([]store.Silence, error)
	ExpireSilence(ctx context.Context, id string, now time.Time, by string) (store.Silence, error)
}

// Silences serves Alertmanager's silence API and mutes the alerts the
// active and pending silences match. The matchers are compiled once per
// refresh, not per alert.
type Silences struct {
	store SilenceStore
	log   *slog.Logger
	now   func() time.Time
	cur   atomic.Pointer[[]compiledSilence]
	// limits: the most active and pending silences, and the most bytes one
	// may take; 0 imposes nothing.
	maxSilences, maxSize atomic.Int64
	rejected             *prometheus.CounterVec
}

// Configure sets the limits of a (re)loaded receiver section, as
// Alertmanager's --silences.max-silences and
// --silences.max-silence-size-bytes.
func (ss *Silences) Configure(maxSilences, maxSize int) {
	ss.maxSilences.Store(int64(maxSilences))
	ss.maxSize.Store(int64(maxSize))
}

type compiledSilence struct {
	s        store.Silence
	matchers labels.Matchers
}

// NewSilences returns silences read from s; call Refresh (or Run) to load.
func NewSilences(s SilenceStore, logger *slog.Logger) *Silences {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ss := &Silences{store: s, log: logger, now: time.Now, rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewarden_receiver_silences_rejected_total",
		Help: "Silences refused at a limit, by limit: max_silences, max_silence_size.",
	}, []string{"reason"})}
	ss.cur.Store(&[]compiledSilence{})
	return ss
}

// Describe and Collect make the silences a collector: the refusals, and
// how many silences are in force (active or pending) as of the last
// refresh.
func (ss *Silences) Describe(ch chan<- *prometheus.Desc) {
	ss.rejected.Describe(ch)
	ch <- silencesInForceDesc
}

func (ss *Silences) Collect(ch chan<- prometheus.Metric) {
	ss.rejected.Collect(ch)
	ch <- prometheus.MustNewConstMetric(silencesInForceDesc, prometheus.GaugeValue, float64(len(*ss.cur.Load())))
}

var silencesInForceDesc = prometheus.NewDesc("gatewarden_receiver_silences_in_force",
	"Silences active or pending as of the last refresh; receiver.limits.max_silences bounds it.", nil, nil)

func compile(ms []store.SilenceMatcher) (labels.Matchers, error) {
	out := make(labels.Matchers, 0, len(ms))
	for _, m := range ms {
		t := labels.MatchEqual
		switch {
		case m.IsRegex && m.IsEqual:
			t = labels.MatchRegexp
		case m.IsRegex:
			t = labels.MatchNotRegexp
		case !m.IsEqual:
			t = labels.MatchNotEqual
		}
		lm, err := labels.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, lm)
	}
	return out, nil
}

// Refresh reloads the silences that are active or will be.
func (ss *Silences) Refresh(ctx context.Context) error {
	var next []compiledSilence
	for _, state := range []string{store.SilenceStateActive, store.SilenceStatePending} {
		list, err := ss.store.ListSilences(ctx, store.SilenceFilter{State: state, Now: ss.now()})
		if err != nil {
			return err
		}
		for _, s := range list {
			ms, err := compile(s.Matchers)
			if err != nil {
				ss.log.Warn("skipping a silence whose matchers do not compile", "id", s.ID, "err", err)
				continue
			}
			next = append(next, compiledSilence{s: s, matchers: ms})
		}
	}
	ss.cur.Store(&next)
	return nil
}

// Run refreshes every interval, so silences created through another
// receiver on the same store apply here too.
func (ss *Silences) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := ss.Refresh(ctx); err != nil && ctx.Err() == nil {
			ss.log.Warn("loading silences failed; keeping the previous ones", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Mutes implements Muter, naming the first silence.
func (ss *Silences) Mutes(ls model.LabelSet, now time.Time) string {
	for id := range ss.muting(ls, now) {
		return "silenced by " + id
	}
	return ""
}

// muting yields the ids of the active silences matching ls.
func (ss *Silences) muting(ls model.LabelSet, now time.Time) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, c := range *ss.cur.Load() {
			if c.s.State(now) == store.SilenceStateActive && c.matchers.Matches(ls) && !yield(c.s.ID) {
				return
			}
		}
	}
}

// SilencedBy lists every active silence muting ls, as Alertmanager's
// silencedBy; Mutes stops at the first.
func (ss *Silences) SilencedBy(ls model.LabelSet, now time.Time) []string {
	return slices.Collect(ss.muting(ls, now))
}

// Register adds Alertmanager's API v2 silence routes: reading them for
// any credentials, changing them for the ingest credentials or an admin
// token (silencing is as strong as not posting an alert at all).
func (ss *Silences) Register(mux *http.ServeMux, guard *access.Guard) {
	mux.Handle("GET /api/v2/silences", guard.Require(access.Read, Denial, http.HandlerFunc(ss.list)))
	mux.Handle("POST /api/v2/silences", guard.Require(access.Ingest, Denial, http.HandlerFunc(ss.post)))
	mux.Handle("GET /api/v2/silence/{id}", guard.Require(access.Read, Denial, http.HandlerFunc(ss.get)))
	mux.Handle("DELETE /api/v2/silence/{id}", guard.Require(access.Ingest, Denial, http.HandlerFunc(ss.expire)))
}

// gettable is Alertmanager's gettableSilence, with who changed it last as
// gatewarden authenticated them (changedBy).
type gettable struct {
	ID        string                 `json:"id"`
	Status    map[string]string      `json:"status"`
	UpdatedAt time.Time              `json:"updatedAt"`
	Comment   string                 `json:"comment"`
	CreatedBy string                 `json:"createdBy"`
	StartsAt  time.Time              `json:"startsAt"`
	EndsAt    time.Time              `json:"endsAt"`
	Matchers  []store.SilenceMatcher `json:"matchers"`
	ChangedBy string                 `json:"changedBy,omitempty"`
}

func (ss *Silences) gettable(s store.Silence) gettable {
	return gettable{ID: s.ID, Status: map[string]string{"state": s.State(ss.now())}, UpdatedAt: s.UpdatedAt, Comment: s.Comment,
		CreatedBy: s.CreatedBy, StartsAt: s.StartsAt, EndsAt: s.EndsAt, Matchers: s.Matchers, ChangedBy: s.ChangedBy}
}

func (ss *Silences) list(w http.ResponseWriter, r *http.Request) {
	list, err := ss.store.ListSilences(r.Context(), store.SilenceFilter{Now: ss.now()})
	if err != nil {
		silenceError(w, err)
		return
	}
	// Alertmanager's filter parameter: matchers every listed silence's
	// matchers must include.
	filter, err := labels.ParseMatchers(r.URL.Query().Get("filter"))
	if err != nil && r.URL.Query().Get("filter") != "" {
		ingestError(w, http.StatusBadRequest, "invalid filter: "+err.Error())
		return
	}
	out := make([]gettable, 0, len(list))
	for _, s := range list {
		if hasAll(s.Matchers, filter) {
			out = append(out, ss.gettable(s))
		}
	}
	writeJSONBody(w, http.StatusOK, out)
}

func hasAll(ms []store.SilenceMatcher, filter labels.Matchers) bool {
	for _, f := range filter {
		found := false
		for _, m := range ms {
			if m.Name == f.Name && m.Value == f.Value {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (ss *Silences) post(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID        string                 `json:"id"`
		Comment   string                 `json:"comment"`
		CreatedBy string                 `json:"createdBy"`
		StartsAt  time.Time              `json:"startsAt"`
		EndsAt    time.Time              `json:"endsAt"`
		Matchers  []store.SilenceMatcher `json:"matchers"`
	}
	d := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := d.Decode(&body); err != nil {
		ingestError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	s := store.Silence{ID: body.ID, Comment: body.Comment, CreatedBy: body.CreatedBy, StartsAt: body.StartsAt, EndsAt: body.EndsAt,
		Matchers: body.Matchers, ChangedBy: access.From(r.Context()).Name}
	if _, err := compile(s.Matchers); err != nil {
		ingestError(w, http.StatusBadRequest, "invalid matcher: "+err.Error())
		return
	}
	if reason, msg := ss.overLimit(s); msg != "" {
		ss.rejected.WithLabelValues(reason).Inc()
		ingestError(w, http.StatusTooManyRequests, msg)
		return
	}
	var err error
	if s.ID != "" {
		s, err = ss.store.UpdateSilence(r.Context(), s)
	} else {
		s, err = ss.store.CreateSilence(r.Context(), s)
	}
	if err != nil {
		silenceError(w, err)
		return
	}
	ss.log.Info("silence saved", "id", s.ID, "by", s.ChangedBy, "created_by", s.CreatedBy)
	ss.refreshNow(r.Context())
	writeJSONBody(w, http.StatusOK, map[string]string{"silenceID": s.ID})
}

// overLimit says which limit a new or changed silence passes and why, ""
// if none. The count is of the silences in force (active or pending): a
// new one past the limit is refused, an update of one is not.
func (ss *Silences) overLimit(s store.Silence) (reason, msg string) {
	size := len(s.Comment) + len(s.CreatedBy)
	for _, m := range s.Matchers {
		size += len(m.Name) + len(m.Value)
	}
	if max := ss.maxSize.Load(); max > 0 && int64(size) > max {
		return "max_silence_size", fmt.Sprintf("the silence takes %d bytes, more than its limit of %d (receiver.limits.max_silence_size)", size, max)
	}
	if max := ss.maxSilences.Load(); max > 0 && s.ID == "" && int64(len(*ss.cur.Load())) >= max {
		return "max_silences", fmt.Sprintf("%d silences are in force, the limit (receiver.limits.max_silences)", max)
	}
	return "", ""
}

func (ss *Silences) get(w http.ResponseWriter, r *http.Request) {
	s, err := ss.store.GetSilence(r.Context(), r.PathValue("id"))
	if err != nil {
		silenceError(w, err)
		return
	}
	writeJSONBody(w, http.StatusOK, ss.gettable(s))
}

func (ss *Silences) expire(w http.ResponseWriter, r *http.Request) {
	by := access.From(r.Context()).Name
	if _, err := ss.store.ExpireSilence(r.Context(), r.PathValue("id"), ss.now(), by); err != nil {
		silenceError(w, err)
		return
	}
	ss.log.Info("silence expired", "id", r.PathValue("id"), "by", by)
	ss.refreshNow(r.Context())
	w.WriteHeader(http.StatusOK)
}

// refreshNow applies a change at once; the periodic refresh catches up on
// failure.
func (ss *Silences) refreshNow(ctx context.Context) {
	if err := ss.Refresh(ctx); err != nil {
		ss.log.Warn("reloading silences failed", "err", err)
	}
}

func silenceError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		ingestError(w, http.StatusNotFound, "silence not found")
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrConflict):
		ingestError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		ingestError(w, http.StatusServiceUnavailable, "the store is unavailable; try again later")
	default:
		ingestError(w, http.StatusInternalServerError, "internal error")
	}
}

func writeJSONBody(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
