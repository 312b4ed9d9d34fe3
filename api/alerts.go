package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
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

// alertJSON is ez-api's AlertView field for field (JSON types, omitempty
// and all), then gatewarden's additions. Times are unix seconds.
type alertJSON struct {
	ID       int64  `json:"id"`
	Type     string `json:"type"`
	Severity string `json:"severity"`
	Status   string `json:"status"`
	Title    string `json:"title"`
	Message  string `json:"message"`
	// RelatedID is ez-api's numeric id of the related object; gatewarden
	// relates alerts to a master, key or provider by its label value, so
	// it is set only where that value is a number (RelatedRef always is).
	RelatedID   uint64 `json:"related_id,omitempty"`
	RelatedType string `json:"related_type,omitempty"`
	RelatedName string `json:"related_name,omitempty"`
	Metadata    string `json:"metadata,omitempty"`
	AckedAt     *int64 `json:"acked_at,omitempty"`
	AckedBy     string `json:"acked_by,omitempty"`
	ResolvedAt  *int64 `json:"resolved_at,omitempty"`
	ExpiresAt   *int64 `json:"expires_at,omitempty"`
	CreatedAt   int64  `json:"created_at"`
	UpdatedAt   int64  `json:"updated_at"`

	Fingerprint string            `json:"fingerprint"`
	RelatedRef  string            `json:"related_ref,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

func toAlertJSON(a store.Alert) alertJSON {
	relID, _ := strconv.ParseUint(a.RelatedID, 10, 64)
	return alertJSON{
		ID: a.ID, Fingerprint: a.Fingerprint, Type: a.Type, Severity: a.Severity, Status: a.Status,
		Title: a.Title, Message: a.Message, RelatedID: relID, RelatedRef: a.RelatedID, RelatedType: a.RelatedType,
		RelatedName: a.RelatedName, Labels: a.Labels, Metadata: a.Metadata,
		AckedAt: unix(a.AckedAt), AckedBy: a.AckedBy, ResolvedAt: unix(a.ResolvedAt),
		ExpiresAt: unix(a.ExpiresAt), CreatedAt: a.CreatedAt.Unix(), UpdatedAt: a.UpdatedAt.Unix(),
	}
}

func oneOf(name, v string, allowed []string) error {
	if v != "" && !slices.Contains(allowed, v) {
		return badRequest("unknown %s %q: use one of %s", name, v, strings.Join(allowed, ", "))
	}
	return nil
}

// listAlerts filters as ez-api does: trimmed values, compared as they are
// (an unknown status matches nothing), every status when none is given.
func (a *API) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.AlertFilter{Status: strings.TrimSpace(q.Get("status")), Severity: strings.TrimSpace(q.Get("severity")),
		Type: strings.TrimSpace(q.Get("type")), IncludeDismissed: true}
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

// newAlert is ez-api's CreateAlertRequest, and gatewarden's fingerprint
// and labels.
type newAlert struct {
	Type        string       `json:"type"`
	Severity    string       `json:"severity"`
	Title       string       `json:"title"`
	Message     string       `json:"message"`
	RelatedID   relatedID    `json:"related_id"`
	RelatedType string       `json:"related_type"`
	RelatedName string       `json:"related_name"`
	Metadata    metadataText `json:"metadata"`
	ExpiresAt   *int64       `json:"expires_at"`

	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
}

// relatedID is ez-api's uint related_id; gatewarden also takes a string
// (a master's or key's name), as it stores it.
type relatedID string

func (r *relatedID) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		*r = relatedID(s)
		return nil
	}
	var n uint64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("related_id %s is not a non-negative whole number", b)
	}
	if n > 0 {
		*r = relatedID(strconv.FormatUint(n, 10))
	}
	return nil
}

// metadataText is ez-api's metadata string, kept as it is; gatewarden
// also takes a JSON object and keeps its text.
type metadataText string

func (m *metadataText) UnmarshalJSON(b []byte) error {
	var s string
	switch {
	case string(b) == "null":
		return nil
	case json.Unmarshal(b, &s) == nil:
		*m = metadataText(s)
	case b[0] == '{':
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			return err
		}
		*m = metadataText(c.String())
	default:
		return fmt.Errorf("metadata must be a string or an object, not %s", b)
	}
	return nil
}

// validate answers as ez-api does: type, severity and title are required
// (present and not empty), then checked against the allowed values.
func (n *newAlert) validate() error {
	switch {
	case n.Type == "":
		return badRequest("type is required: use one of %s", strings.Join(AlertTypes, ", "))
	case n.Severity == "":
		return badRequest("severity is required: use one of %s", strings.Join(severities, ", "))
	case n.Title == "":
		return badRequest("title is required")
	case !slices.Contains(AlertTypes, n.Type):
		return badRequest("invalid alert type %q: use one of %s", n.Type, strings.Join(AlertTypes, ", "))
	case !slices.Contains(severities, n.Severity):
		return badRequest("invalid severity %q: use one of %s", n.Severity, strings.Join(severities, ", "))
	}
	return nil
}

// createAlert creates an alert, as ez-api: 201, a new alert every time.
// With a fingerprint (gatewarden's) it creates or updates the alert that
// has it, as the evaluator does; an update answers 200.
func (a *API) createAlert(w http.ResponseWriter, r *http.Request) error {
	var n newAlert
	if err := decode(r, &n); err != nil {
		return err
	}
	if err := n.validate(); err != nil {
		return err
	}
	fp := n.Fingerprint
	if fp == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		fp = "api-" + hex.EncodeToString(b[:])
	}
	in := store.Alert{
		Fingerprint: fp, Type: n.Type, Severity: n.Severity, Status: store.StatusActive,
		Title: strings.TrimSpace(n.Title), Message: strings.TrimSpace(n.Message), RelatedID: string(n.RelatedID),
		RelatedType: strings.TrimSpace(n.RelatedType), RelatedName: strings.TrimSpace(n.RelatedName),
		Labels: n.Labels, Metadata: string(n.Metadata),
	}
	if n.ExpiresAt != nil && *n.ExpiresAt > 0 {
		in.ExpiresAt = time.Unix(*n.ExpiresAt, 0).UTC()
	}
	out, err := a.o.Store.UpsertAlert(r.Context(), in)
	if err != nil {
		return err
	}
	code := http.StatusCreated
	if out.CreatedAt.Before(out.UpdatedAt) {
		code = http.StatusOK
	}
	return writeJSON(w, code, toAlertJSON(out))
}

// ackAlert acknowledges, as ez-api: the body and acked_by are optional.
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
	return a.transition(w, r, id, store.StatusAcknowledged, func(ctx context.Context) (store.Alert, error) {
		return a.o.Store.AckAlert(ctx, id, strings.TrimSpace(body.AckedBy))
	})
}

func (a *API) resolveAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return a.transition(w, r, id, store.StatusResolved, func(ctx context.Context) (store.Alert, error) {
		return a.o.Store.ResolveAlert(ctx, id)
	})
}

func (a *API) dismissAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	return a.transition(w, r, id, store.StatusDismissed, func(ctx context.Context) (store.Alert, error) {
		return a.o.Store.DismissAlert(ctx, id)
	})
}

// transition runs a change of status. Asking for the status the alert
// has already is a success that changes nothing, as in ez-api, where every
// call succeeds; the store still lets only one of two racing calls make
// the change. Going back (acknowledging a resolved alert, resolving a
// dismissed one) stays a conflict: gatewarden does not reopen an alert.
func (a *API) transition(w http.ResponseWriter, r *http.Request, id int64, to string, change func(context.Context) (store.Alert, error)) error {
	al, err := change(r.Context())
	if errors.Is(err, store.ErrConflict) {
		if cur, gerr := a.o.Store.GetAlert(r.Context(), id); gerr == nil && cur.Status == to {
			al, err = cur, nil
		}
	}
	if err != nil {
		return err
	}
	if to == store.StatusDismissed {
		return writeJSON(w, http.StatusOK, map[string]string{"status": store.StatusDismissed})
	}
	return writeJSON(w, http.StatusOK, toAlertJSON(al))
}

func (a *API) alertStats(w http.ResponseWriter, r *http.Request) error {
	st, err := a.o.Store.AlertStats(r.Context())
	if err != nil {
		return err
	}
	// ez-api's AlertStats, in its order.
	return writeJSON(w, http.StatusOK, struct {
		Total        int64 `json:"total"`
		Active       int64 `json:"active"`
		Acknowledged int64 `json:"acknowledged"`
		Resolved     int64 `json:"resolved"`
		Critical     int64 `json:"critical"`
		Warning      int64 `json:"warning"`
		Info         int64 `json:"info"`
	}{st.Total, st.Active, st.Acknowledged, st.Resolved, st.Critical, st.Warning, st.Info})
}
