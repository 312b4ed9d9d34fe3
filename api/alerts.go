package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/store"
)

// AlertTypes are the types an alert may be created with: ez-api's, then
// gatewarden's rule types.
var AlertTypes = []string{
	"rate_limit", "error_spike", "quota_exceeded", "key_disabled", "key_expired", "provider_down", "traffic_spike",
	"budget", "error_rate", "latency", "quota", "cpu_anomaly", "nodata", "throttle",
}

var (
	severities = []string{store.SeverityCritical, store.SeverityWarning, store.SeverityInfo}
	statuses   = []string{store.StatusActive, store.StatusAcknowledged, store.StatusResolved, store.StatusDismissed}
)

// alertJSON is ez-api's alert shape plus gatewarden's fingerprint and
// labels. Times are unix seconds, omitted when unset.
type alertJSON struct {
	ID          int64             `json:"id"`
	Fingerprint string            `json:"fingerprint"`
	Type        string            `json:"type"`
	Severity    string            `json:"severity"`
	Status      string            `json:"status"`
	Title       string            `json:"title"`
	Message     string            `json:"message"`
	RelatedID   string            `json:"related_id,omitempty"`
	RelatedType string            `json:"related_type,omitempty"`
	RelatedName string            `json:"related_name,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Metadata    json.RawMessage   `json:"metadata,omitempty"`
	AckedAt     *int64            `json:"acked_at,omitempty"`
	AckedBy     string            `json:"acked_by,omitempty"`
	ResolvedAt  *int64            `json:"resolved_at,omitempty"`
	ExpiresAt   *int64            `json:"expires_at,omitempty"`
	CreatedAt   *int64            `json:"created_at,omitempty"`
	UpdatedAt   *int64            `json:"updated_at,omitempty"`
}

func toAlertJSON(a store.Alert) alertJSON {
	return alertJSON{
		ID: a.ID, Fingerprint: a.Fingerprint, Type: a.Type, Severity: a.Severity, Status: a.Status,
		Title: a.Title, Message: a.Message, RelatedID: a.RelatedID, RelatedType: a.RelatedType,
		RelatedName: a.RelatedName, Labels: a.Labels, Metadata: a.Metadata,
		AckedAt: unix(a.AckedAt), AckedBy: a.AckedBy, ResolvedAt: unix(a.ResolvedAt),
		ExpiresAt: unix(a.ExpiresAt), CreatedAt: unix(a.CreatedAt), UpdatedAt: unix(a.UpdatedAt),
	}
}

func oneOf(name, v string, allowed []string) error {
	if v != "" && !slices.Contains(allowed, v) {
		return badRequest("unknown %s %q: use one of %s", name, v, strings.Join(allowed, ", "))
	}
	return nil
}

func (a *API) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.AlertFilter{Status: q.Get("status"), Severity: q.Get("severity"), Type: q.Get("type")}
	if err := oneOf("status", f.Status, statuses); err != nil {
		return err
	}
	if err := oneOf("severity", f.Severity, severities); err != nil {
		return err
	}
	var err error
	if f.Limit, f.Offset, err = pageParams(r); err != nil {
		return err
	}
	items, total, err := a.o.Store.ListAlerts(r.Context(), f)
	if err != nil {
		return err
	}
	out := page[alertJSON]{Total: total, Limit: f.Limit, Offset: f.Offset, Items: make([]alertJSON, 0, len(items))}
	for _, it := range items {
		out.Items = append(out.Items, toAlertJSON(it))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) getAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	al, err := a.o.Store.GetAlert(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAlertJSON(al))
}

// newAlert is the body of POST /admin/alerts.
type newAlert struct {
	Type        string            `json:"type"`
	Severity    string            `json:"severity"`
	Title       string            `json:"title"`
	Message     string            `json:"message"`
	RelatedID   string            `json:"related_id"`
	RelatedType string            `json:"related_type"`
	RelatedName string            `json:"related_name"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Metadata    json.RawMessage   `json:"metadata"`
	ExpiresAt   int64             `json:"expires_at"`
}

func (n *newAlert) validate() error {
	switch {
	case n.Type == "":
		return badRequest("type is required: use one of %s", strings.Join(AlertTypes, ", "))
	case n.Severity == "":
		return badRequest("severity is required: use one of %s", strings.Join(severities, ", "))
	case strings.TrimSpace(n.Title) == "":
		return badRequest("title is required")
	case n.ExpiresAt < 0:
		return badRequest("expires_at must be unix seconds")
	}
	if err := oneOf("type", n.Type, AlertTypes); err != nil {
		return err
	}
	return oneOf("severity", n.Severity, severities)
}

// fingerprint identifies a created alert by what it is about, so posting
// the same alert twice updates it instead of adding a duplicate.
func (n *newAlert) fingerprint() string {
	if n.Fingerprint != "" {
		return n.Fingerprint
	}
	h := sha256.Sum256([]byte(strings.Join([]string{n.Type, n.RelatedType, n.RelatedID, n.Title}, "\x00")))
	return "api-" + hex.EncodeToString(h[:8])
}

func (a *API) createAlert(w http.ResponseWriter, r *http.Request) error {
	var n newAlert
	if err := decode(r, &n); err != nil {
		return err
	}
	if err := n.validate(); err != nil {
		return err
	}
	in := store.Alert{
		Fingerprint: n.fingerprint(), Type: n.Type, Severity: n.Severity, Status: store.StatusActive,
		Title: n.Title, Message: n.Message, RelatedID: n.RelatedID, RelatedType: n.RelatedType,
		RelatedName: n.RelatedName, Labels: n.Labels, Metadata: n.Metadata,
	}
	if n.ExpiresAt > 0 {
		in.ExpiresAt = time.Unix(n.ExpiresAt, 0).UTC()
	}
	out, err := a.o.Store.UpsertAlert(r.Context(), in)
	if err != nil {
		return err
	}
	code := http.StatusCreated
	if out.CreatedAt.Before(out.UpdatedAt) {
		code = http.StatusOK // an update of the alert with the same fingerprint
	}
	return writeJSON(w, code, toAlertJSON(out))
}

func (a *API) ackAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var body struct {
		AckedBy string `json:"acked_by"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &body); err != nil {
			return err
		}
	}
	if strings.TrimSpace(body.AckedBy) == "" {
		return badRequest("acked_by is required: who acknowledges the alert")
	}
	al, err := a.o.Store.AckAlert(r.Context(), id, strings.TrimSpace(body.AckedBy))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAlertJSON(al))
}

func (a *API) resolveAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	al, err := a.o.Store.ResolveAlert(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toAlertJSON(al))
}

func (a *API) dismissAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := a.o.Store.DismissAlert(r.Context(), id); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": store.StatusDismissed})
}

func (a *API) alertStats(w http.ResponseWriter, r *http.Request) error {
	st, err := a.o.Store.AlertStats(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int64{
		"total": st.Total, "active": st.Active, "acknowledged": st.Acknowledged, "resolved": st.Resolved,
		"critical": st.Critical, "warning": st.Warning, "info": st.Info,
	})
}
