package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/store"
	"github.com/gatewarden/gatewarden/throttle"
)

// Throttles is the auto-throttle as the admin API sees it.
type Throttles interface {
	Active() []throttle.Throttle
	History(ctx context.Context, f store.AuditFilter) ([]store.ThrottleAudit, int, error)
	Release(ctx context.Context, id int64, actor string) error
	Feedback(ctx context.Context, id int64, actor string, falsePositive bool) (store.Throttle, error)
	Policy() *throttle.Policy
	SavePolicy(ctx context.Context, p config.ThrottlePolicy, actor string) (*throttle.Policy, error)
	ResetPolicy(ctx context.Context, actor string) error
	Automation() throttle.Automation
	SetAutomation(ctx context.Context, enabled bool, reason, actor string) (throttle.Automation, int, error)
	Reconcile(ctx context.Context) (throttle.Reconciliation, error)
}

// SetThrottles attaches the auto-throttle; without one its routes answer
// 404 with the reason.
func (a *API) SetThrottles(t *throttle.Controller) {
	if t != nil {
		a.throttles = t
	}
}

func (a *API) throttleRoutes() []route {
	return []route{
		{"GET /admin/throttles", false, a.listThrottles},
		{"GET /admin/throttles/history", false, a.throttleHistory},
		{"POST /admin/throttles/{id}/release", true, a.releaseThrottle},
		{"POST /admin/throttles/{id}/feedback", true, a.throttleFeedback},
		{"GET /admin/throttles/policy", false, a.getThrottlePolicy},
		{"PUT /admin/throttles/policy", true, a.putThrottlePolicy},
		{"DELETE /admin/throttles/policy", true, a.resetThrottlePolicy},
		{"GET /admin/throttles/automation", false, a.getAutomation},
		{"PUT /admin/throttles/automation", true, a.putAutomation},
		{"POST /admin/throttles/reconcile", true, a.reconcileThrottles},
	}
}

func (a *API) throttlesOn() (Throttles, error) {
	if a.throttles == nil {
		return nil, &httpError{http.StatusNotFound, "the auto-throttle is not configured: add a throttle section to gatewarden.yml"}
	}
	return a.throttles, nil
}

func (a *API) listThrottles(w http.ResponseWriter, _ *http.Request) error {
	t, err := a.throttlesOn()
	if err != nil {
		return err
	}
	items := t.Active()
	if items == nil {
		items = []throttle.Throttle{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

type auditJSON struct {
	ID         int64  `json:"id"`
	TenantID   string `json:"tenant_id"`
	PluginID   string `json:"plugin_id"`
	InstanceID string `json:"instance_id"`
	Action     string `json:"action"`
	Decision   any    `json:"decision,omitempty"`
	Result     string `json:"result"`
	Error      string `json:"error,omitempty"`
	CreatedAt  *int64 `json:"created_at,omitempty"`
}

func (a *API) throttleHistory(w http.ResponseWriter, r *http.Request) error {
	t, err := a.throttlesOn()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{TenantID: q.Get("tenant_id"), PluginID: q.Get("plugin_id"), InstanceID: q.Get("instance_id")}
	if f.Since, err = queryTime(r, "since"); err != nil {
		return err
	}
	if f.Limit, f.Offset, err = pageParams(r); err != nil {
		return err
	}
	items, total, err := t.History(r.Context(), f)
	if err != nil {
		return err
	}
	out := page[auditJSON]{Total: total, Limit: f.Limit, Offset: f.Offset, Items: make([]auditJSON, 0, len(items))}
	for _, it := range items {
		var decision any
		if len(it.Decision) > 0 {
			decision = it.Decision
		}
		out.Items = append(out.Items, auditJSON{ID: it.ID, TenantID: it.TenantID, PluginID: it.PluginID, InstanceID: it.InstanceID,
			Action: it.Action, Decision: decision, Result: it.Result, Error: it.Error, CreatedAt: unix(it.CreatedAt)})
	}
	return writeJSON(w, http.StatusOK, out)
}

// actor names who acts through the API: the body's "by", else "admin".
type actorBody struct {
	By            string `json:"by"`
	FalsePositive *bool  `json:"false_positive"`
}

func readActor(r *http.Request) (actorBody, error) {
	var b actorBody
	if r.ContentLength != 0 {
		if err := decode(r, &b); err != nil {
			return b, err
		}
	}
	if strings.TrimSpace(b.By) == "" {
		b.By = "admin"
	}
	return b, nil
}

// throttleAction reads what a release or a feedback acts on, and who acts.
func (a *API) throttleAction(r *http.Request) (Throttles, int64, actorBody, error) {
	t, err := a.throttlesOn()
	if err != nil {
		return nil, 0, actorBody{}, err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return nil, 0, actorBody{}, err
	}
	b, err := readActor(r)
	return t, id, b, err
}

func (a *API) releaseThrottle(w http.ResponseWriter, r *http.Request) error {
	t, id, b, err := a.throttleAction(r)
	if err != nil {
		return err
	}
	if err := t.Release(r.Context(), id, "user:"+b.By); err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"status": "releasing"})
}

func (a *API) throttleFeedback(w http.ResponseWriter, r *http.Request) error {
	t, id, b, err := a.throttleAction(r)
	if err != nil {
		return err
	}
	fp := b.FalsePositive == nil || *b.FalsePositive
	row, err := t.Feedback(r.Context(), id, "user:"+b.By, fp)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"id": row.ID, "false_positive": fp})
}

func (a *API) getThrottlePolicy(w http.ResponseWriter, _ *http.Request) error {
	t, err := a.throttlesOn()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t.Policy().Config())
}

// putThrottlePolicy replaces the policy at run time; it is persisted and
// wins over the config file's until DELETE.
func (a *API) putThrottlePolicy(w http.ResponseWriter, r *http.Request) error {
	t, err := a.throttlesOn()
	if err != nil {
		return err
	}
	var p config.ThrottlePolicy
	if err := decode(r, &p); err != nil {
		return err
	}
	pol, err := t.SavePolicy(r.Context(), p, "user:admin")
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return err
		}
		return badRequest("invalid throttle policy: %v", err)
	}
	return writeJSON(w, http.StatusOK, pol.Config())
}

func (a *API) resetThrottlePolicy(w http.ResponseWriter, r *http.Request) error {
	t, err := a.throttlesOn()
	if err != nil {
		return err
	}
	if err := t.ResetPolicy(r.Context(), "user:admin"); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// automationJSON is the kill switch as the admin API shows it; times are
// unix seconds, as everywhere in the admin API.
type automationJSON struct {
	Enabled   bool   `json:"enabled"`
	Reason    string `json:"reason"`
	ChangedBy string `json:"changed_by,omitempty"`
	ChangedAt *int64 `json:"changed_at,omitempty"`
	Released  *int   `json:"released,omitempty"` // by this change
}

func automationOut(au throttle.Automation) automationJSON {
	return automationJSON{Enabled: au.Enabled, Reason: au.Reason, ChangedBy: au.ChangedBy, ChangedAt: unix(au.ChangedAt)}
}

func (a *API) getAutomation(w http.ResponseWriter, _ *http.Request) error {
	t, err := a.throttlesOn()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, automationOut(t.Automation()))
}

// putAutomation is the kill switch: {"enabled": false, "reason": "…",
// "by": "…"} releases every automated throttle and stops new decisions.
func (a *API) putAutomation(w http.ResponseWriter, r *http.Request) error {
	t, err := a.throttlesOn()
	if err != nil {
		return err
	}
	var b struct {
		Enabled *bool  `json:"enabled"`
		Reason  string `json:"reason"`
		By      string `json:"by"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	if b.Enabled == nil {
		return badRequest("enabled is required: true or false")
	}
	reason := strings.TrimSpace(b.Reason)
	if !*b.Enabled && reason == "" {
		return badRequest("reason is required to disable the automation")
	}
	by := strings.TrimSpace(b.By)
	if by == "" {
		by = "admin"
	}
	au, n, err := t.SetAutomation(r.Context(), *b.Enabled, reason, "user:"+by)
	if err != nil {
		return err
	}
	out := automationOut(au)
	out.Released = &n
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) reconcileThrottles(w http.ResponseWriter, r *http.Request) error {
	t, err := a.throttlesOn()
	if err != nil {
		return err
	}
	rec, err := t.Reconcile(r.Context())
	if err != nil {
		return &httpError{http.StatusBadGateway, err.Error()}
	}
	if rec.Differences == nil {
		rec.Differences = []throttle.Difference{}
	}
	return writeJSON(w, http.StatusOK, rec)
}
