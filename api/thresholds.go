package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/overrides"
	"github.com/gatewarden/gatewarden/rules"
	"github.com/gatewarden/gatewarden/store"
)

// trafficThreshold ties one field of ez-api's traffic-spike thresholds to
// the built-in rule and level it overrides, with the rule's default.
type trafficThreshold struct {
	field string
	rule  string
	level rules.Severity
	def   float64
	// limit: must be positive; otherwise a minimum, which may be zero.
	limit bool
}

// TrafficThresholds are the fields of /admin/alerts/thresholds. The
// defaults are the built-in rule pack's; a test keeps them in step.
var TrafficThresholds = []trafficThreshold{
	{"global_qps", "GatewayTrafficSpikeQPS", rules.Warning, 500, true},
	{"master_rpm", "GatewayTrafficSpikeRPM", rules.Warning, 600, true},
	{"master_rpd", "GatewayTrafficSpikeRPD", rules.Warning, 100000, true},
	{"master_tpm", "GatewayTrafficSpikeTPM", rules.Warning, 1000000, true},
	{"master_tpd", "GatewayTrafficSpikeTPD", rules.Warning, 100000000, true},
	{"min_rpm_requests_1m", "GatewayTrafficSpikeRPM", rules.MinLevel, 10, false},
	{"min_tpm_tokens_1m", "GatewayTrafficSpikeTPM", rules.MinLevel, 1000, false},
}

// thresholdsJSON is ez-api's AlertThresholdView, field for field and in
// its order: whole numbers, and when they last changed.
type thresholdsJSON struct {
	GlobalQPS        int64 `json:"global_qps"`
	MasterRPM        int64 `json:"master_rpm"`
	MasterRPD        int64 `json:"master_rpd"`
	MasterTPM        int64 `json:"master_tpm"`
	MasterTPD        int64 `json:"master_tpd"`
	MinRPMRequests1m int64 `json:"min_rpm_requests_1m"`
	MinTPMTokens1m   int64 `json:"min_tpm_tokens_1m"`
	UpdatedAt        int64 `json:"updated_at"`
}

// fields are the view's values in the order of TrafficThresholds.
func (v *thresholdsJSON) fields() []*int64 {
	return []*int64{&v.GlobalQPS, &v.MasterRPM, &v.MasterRPD, &v.MasterTPM, &v.MasterTPD, &v.MinRPMRequests1m, &v.MinTPMTokens1m}
}

// trafficValues reads the rule-wide overrides (the endpoint has no target
// labels). An override set through /admin/rules with a fraction shows
// rounded: ez-api's thresholds are whole numbers.
func (a *API) trafficValues(ctx context.Context) (thresholdsJSON, error) {
	var out thresholdsJSON
	list, err := a.o.Store.ListOverrides(ctx, "")
	if err != nil {
		return out, err
	}
	var updated time.Time
	for i, t := range TrafficThresholds {
		v := t.def
		for _, o := range list {
			if o.Rule == t.rule && o.Level == overrides.LevelName(t.level) && len(o.Labels) == 0 {
				v = o.Value
				if o.UpdatedAt.After(updated) {
					updated = o.UpdatedAt
				}
			}
		}
		*out.fields()[i] = int64(math.Round(v))
	}
	// As ez-api's config row: the defaults date from the store's making.
	if updated.IsZero() {
		if updated, err = a.o.Store.CreatedAt(ctx); err != nil {
			return out, err
		}
	}
	out.UpdatedAt = updated.Unix()
	return out, nil
}

func (a *API) getThresholds(w http.ResponseWriter, r *http.Request) error {
	out, err := a.trafficValues(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// putThresholds is partial: only the fields present change. Every field
// is checked before anything is written.
func (a *API) putThresholds(w http.ResponseWriter, r *http.Request) error {
	// ez-api's UpdateAlertThresholdsRequest: whole numbers.
	var body struct {
		GlobalQPS        *int64 `json:"global_qps"`
		MasterRPM        *int64 `json:"master_rpm"`
		MasterRPD        *int64 `json:"master_rpd"`
		MasterTPM        *int64 `json:"master_tpm"`
		MasterTPD        *int64 `json:"master_tpd"`
		MinRPMRequests1m *int64 `json:"min_rpm_requests_1m"`
		MinTPMTokens1m   *int64 `json:"min_tpm_tokens_1m"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	given := []*int64{body.GlobalQPS, body.MasterRPM, body.MasterRPD, body.MasterTPM, body.MasterTPD, body.MinRPMRequests1m, body.MinTPMTokens1m}
	for i, t := range TrafficThresholds {
		v := given[i]
		switch {
		case v == nil:
		case t.limit && *v <= 0:
			return badRequest("%s must be positive", t.field)
		case !t.limit && *v < 0:
			return badRequest("%s must be non-negative", t.field)
		}
	}
	for i, t := range TrafficThresholds {
		if v := given[i]; v != nil {
			if _, err := a.o.Store.PutOverride(r.Context(), store.Override{Rule: t.rule, Level: overrides.LevelName(t.level), Value: float64(*v)}); err != nil {
				return err
			}
		}
	}
	a.reloadOverrides(r.Context())
	return a.getThresholds(w, r)
}

// reloadOverrides applies a write at once; a failure is logged and the
// periodic refresh catches up.
func (a *API) reloadOverrides(ctx context.Context) {
	if a.o.Overrides == nil {
		return
	}
	if err := a.o.Overrides.Reload(ctx); err != nil {
		a.o.Logger.Warn("reloading threshold overrides failed", "err", err)
	}
}

// overrideJSON is one threshold override of a rule.
type overrideJSON struct {
	ID        int64             `json:"id"`
	Rule      string            `json:"rule"`
	Labels    map[string]string `json:"labels"`
	Level     string            `json:"level"`
	Value     float64           `json:"value"`
	UpdatedAt *int64            `json:"updated_at,omitempty"`
}

func toOverrideJSON(o store.Override) overrideJSON {
	if o.Labels == nil {
		o.Labels = map[string]string{}
	}
	return overrideJSON{ID: o.ID, Rule: o.Rule, Labels: o.Labels, Level: o.Level, Value: o.Value, UpdatedAt: unix(o.UpdatedAt)}
}

func ruleName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if name == "" || strings.ContainsAny(name, " \t\n{}") {
		return "", badRequest("invalid rule name %q", name)
	}
	return name, nil
}

func (a *API) listOverrides(w http.ResponseWriter, r *http.Request) error {
	name, err := ruleName(r)
	if err != nil {
		return err
	}
	list, err := a.o.Store.ListOverrides(r.Context(), name)
	if err != nil {
		return err
	}
	items := make([]overrideJSON, 0, len(list))
	for _, o := range list {
		items = append(items, toOverrideJSON(o))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"rule": name, "items": items})
}

// putOverride sets one override: {labels, level, value}; labels empty
// means the whole rule. The same rule, labels and level replace it.
func (a *API) putOverride(w http.ResponseWriter, r *http.Request) error {
	name, err := ruleName(r)
	if err != nil {
		return err
	}
	var body struct {
		Labels map[string]string `json:"labels"`
		Level  string            `json:"level"`
		Value  *float64          `json:"value"`
	}
	if a.o.Rules != nil && !a.o.Rules.HasRule(name) {
		return &httpError{http.StatusNotFound, fmt.Sprintf("no rule named %q is loaded", name)}
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Level == "" {
		body.Level = "value"
	}
	level, ok := overrides.ParseLevel(body.Level)
	switch {
	case !ok:
		return badRequest("unknown level %q: use critical, warning, info, value (a rule without levels) or min", body.Level)
	case body.Value == nil:
		return badRequest("value is required")
	case math.IsNaN(*body.Value) || math.IsInf(*body.Value, 0):
		return badRequest("value must be a finite number")
	}
	for k := range body.Labels {
		if k == "" || k == "__name__" {
			return badRequest("invalid label name %q", k)
		}
	}
	o, err := a.o.Store.PutOverride(r.Context(), store.Override{Rule: name, Labels: body.Labels, Level: overrides.LevelName(level), Value: *body.Value})
	if err != nil {
		return err
	}
	a.reloadOverrides(r.Context())
	return writeJSON(w, http.StatusOK, toOverrideJSON(o))
}

func (a *API) deleteOverride(w http.ResponseWriter, r *http.Request) error {
	name, err := ruleName(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	list, err := a.o.Store.ListOverrides(r.Context(), name)
	if err != nil {
		return err
	}
	for _, o := range list {
		if o.ID == id {
			if err := a.o.Store.DeleteOverride(r.Context(), o.Rule, o.Labels, o.Level); err != nil {
				return err
			}
			a.reloadOverrides(r.Context())
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	return store.ErrNotFound
}
