package receiver

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/access"
)

// snapshotWait bounds how long a read waits for the dispatcher's loop,
// which may be in a flush waiting on the store.
const snapshotWait = 10 * time.Second

// Snapshotter is the dispatcher, as the read API needs it.
type Snapshotter interface {
	Snapshot(ctx context.Context) (*Snapshot, error)
}

// SilenceLister names the active silences muting a label set.
type SilenceLister interface {
	SilencedBy(ls model.LabelSet, now time.Time) []string
}

// AlertsAPI serves the read side of Alertmanager's API v2: the alerts and
// groups the dispatcher holds, its receivers and its status, in
// Alertmanager 0.34's JSON, so amtool and Grafana's Alertmanager data
// source read gatewarden as they read Alertmanager.
type AlertsAPI struct {
	views    Snapshotter
	silences SilenceLister
	status   *Status
}

// NewAlertsAPI returns the read endpoints over the dispatcher's views.
func NewAlertsAPI(views Snapshotter, silences SilenceLister, status *Status) *AlertsAPI {
	return &AlertsAPI{views: views, silences: silences, status: status}
}

// Register adds the read routes, for any credentials that may read.
func (a *AlertsAPI) Register(mux *http.ServeMux, guard *access.Guard) {
	mux.Handle("GET /api/v2/alerts", guard.Require(access.Read, Denial, a.configured(a.alerts)))
	mux.Handle("GET /api/v2/alerts/groups", guard.Require(access.Read, Denial, a.configured(a.groups)))
	mux.Handle("GET /api/v2/receivers", guard.Require(access.Read, Denial, a.configured(a.status.receivers)))
	mux.Handle("GET /api/v2/status", guard.Require(access.Read, Denial, a.configured(a.status.serve)))
}

// configured answers 404 without a receiver section, as ingest does.
func (a *AlertsAPI) configured(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.status.current() == nil {
			ingestError(w, http.StatusNotFound, "no receiver is configured: add a receiver section to gatewarden.yml")
			return
		}
		h(w, r)
	})
}

// read parses the filter and takes a snapshot, answering the error itself.
func (a *AlertsAPI) read(w http.ResponseWriter, r *http.Request) (alertFilter, *Snapshot, bool) {
	f, err := parseAlertFilter(r.URL.Query())
	if err != nil {
		ingestError(w, http.StatusBadRequest, err.Error())
		return f, nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), snapshotWait)
	defer cancel()
	s, err := a.views.Snapshot(ctx)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		ingestError(w, http.StatusServiceUnavailable, "the dispatcher is busy; try again later")
		return f, nil, false
	}
	return f, s, true
}

func (a *AlertsAPI) alerts(w http.ResponseWriter, r *http.Request) {
	f, s, ok := a.read(w, r)
	if !ok {
		return
	}
	out := models.GettableAlerts{}
	for _, v := range s.Alerts {
		if g := a.gettable(f, v, s.Now, nil); g != nil && f.receiverTakes(v.Receivers...) {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return *out[i].Fingerprint < *out[j].Fingerprint })
	writeJSONBody(w, http.StatusOK, out)
}

func (a *AlertsAPI) groups(w http.ResponseWriter, r *http.Request) {
	f, s, ok := a.read(w, r)
	if !ok {
		return
	}
	out := models.AlertGroups{}
	for _, g := range s.Groups {
		if !f.receiverTakes(g.Receiver) || !f.muted && len(g.MutedBy) > 0 {
			continue
		}
		ag := &models.AlertGroup{Labels: apiLabels(g.Labels), RouteLabels: models.LabelSet{},
			Receiver: &models.ReceiverReference{Name: &g.Receiver}, Alerts: []*models.GettableAlert{}}
		for _, fp := range g.Alerts {
			if ga := a.gettable(f, s.Alerts[fp], s.Now, g.MutedBy); ga != nil {
				ag.Alerts = append(ag.Alerts, ga)
			}
		}
		if len(ag.Alerts) > 0 {
			out = append(out, ag)
		}
	}
	writeJSONBody(w, http.StatusOK, out)
}

// gettable is v as Alertmanager's gettableAlert, nil if f leaves it out.
// An alert silenced, inhibited or in a muted group is suppressed; there
// is no unprocessed state, as the dispatcher holds only routed alerts.
func (a *AlertsAPI) gettable(f alertFilter, v *AlertView, now time.Time, mutedBy []string) *models.GettableAlert {
	ls := labelSetOf(v.Labels)
	silencedBy := a.silences.SilencedBy(ls, now)
	if !f.takes(ls, silencedBy, v.InhibitedBy) {
		return nil
	}
	state := models.AlertStatusStateActive
	if len(silencedBy)+len(v.InhibitedBy)+len(mutedBy) > 0 {
		state = models.AlertStatusStateSuppressed
	}
	fp := v.Fingerprint
	ga := &models.GettableAlert{
		Alert:       models.Alert{GeneratorURL: strfmt.URI(v.GeneratorURL), Labels: v.Labels.Map()},
		Annotations: v.Annotations.Map(),
		StartsAt:    dateTime(v.StartsAt), EndsAt: dateTime(v.EndsAt), UpdatedAt: dateTime(v.UpdatedAt),
		Fingerprint: &fp,
		Receivers:   make([]*models.ReceiverReference, len(v.Receivers)),
		Status: &models.AlertStatus{State: &state, SilencedBy: orEmpty(silencedBy), InhibitedBy: orEmpty(v.InhibitedBy),
			MutedBy: orEmpty(mutedBy)},
	}
	for i := range v.Receivers {
		ga.Receivers[i] = &models.ReceiverReference{Name: &v.Receivers[i]}
	}
	return ga
}

func dateTime(t time.Time) *strfmt.DateTime {
	d := strfmt.DateTime(t.UTC())
	return &d
}

// orEmpty makes a nil list [], as Alertmanager's required lists are.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func labelSetOf(ls labels.Labels) model.LabelSet {
	out := make(model.LabelSet, ls.Len())
	ls.Range(func(l labels.Label) { out[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return out
}

func apiLabels(ls model.LabelSet) models.LabelSet {
	out := make(models.LabelSet, len(ls))
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}
