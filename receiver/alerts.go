// Package receiver takes alerts in — from the evaluator in-process, and
// (next) from Alertmanager and Prometheus over HTTP — keeps their lifecycle
// in the store, and hands notifications to the delivery integrations.
package receiver

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/store"
)

// Alert is one alert in Alertmanager's model, whoever sent it.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
	// Detail is the evaluator's (nil from other senders): stored as the
	// alert's metadata and shown by the templates.
	Detail *message.Detail `json:"-"`

	// fp caches Fingerprint: ingest, the recorder and the dispatcher each
	// need it, and the labels do not change once an alert is made.
	fp string
}

// firing reports whether the alert is firing at now: its end is ahead, or
// it has none (an in-process sender's alert, open until it resolves it).
func (a *Alert) firing(now time.Time) bool { return a.EndsAt.IsZero() || a.EndsAt.After(now) }

// Fingerprint is Alertmanager's: a hash of the label set, hex.
func (a *Alert) Fingerprint() string {
	if a.fp == "" {
		a.fp = model.Fingerprint(model.LabelsToSignature(a.Labels)).String()
	}
	return a.fp
}

// typesByAlert gives the built-in rules' alerts their ez-api style type;
// a rule's own `type` label wins over it.
var typesByAlert = []struct{ prefix, typ string }{
	{"GatewayBudget", "budget"},
	{"GatewayErrorRate", "error_rate"},
	{"GatewayLatency", "latency"},
	{"GatewayQuota", "quota"},
	{"GatewayTrafficSpike", "traffic_spike"},
	{"GatewayNoData", "nodata"},
	{"GatewayTargetDown", "target_down"},
	{"PluginCPU", "cpu_anomaly"},
	{"PluginThrottle", "throttle"},
}

func alertType(ls map[string]string) string {
	if t := ls["type"]; t != "" {
		return t
	}
	name := ls[model.AlertNameLabel]
	for _, m := range typesByAlert {
		if strings.HasPrefix(name, m.prefix) {
			return m.typ
		}
	}
	return "prometheus"
}

// severity maps the severity label onto the three the API knows; page
// and error are common spellings of critical.
func severity(ls map[string]string) string {
	switch s := strings.ToLower(ls["severity"]); s {
	case store.SeverityCritical, "page", "error", "fatal", "high":
		return store.SeverityCritical
	case store.SeverityInfo, "none", "low", "notice":
		return store.SeverityInfo
	}
	return store.SeverityWarning
}

// related names what the alert is about, most specific first, so the
// admin console can link to the master, key or plugin instance.
func related(ls map[string]string) (id, typ, name string) {
	switch {
	case ls["instance_id"] != "":
		return ls["instance_id"], "plugin_instance", ls["tenant_id"] + "/" + ls["plugin_id"] + "/" + ls["instance_id"]
	case ls["key"] != "":
		return ls["key"], "key", ls["key"]
	case ls["master"] != "":
		return ls["master"], "master", ls["master"]
	case ls["provider"] != "":
		return ls["provider"], "provider", ls["provider"]
	case ls["instance"] != "":
		return ls["instance"], "target", ls["instance"]
	}
	return "", "", ""
}

// ToStore turns an alert into the store's row. A firing alert expires at
// its EndsAt, as in Alertmanager: a sender that stops re-sending it lets it
// end by itself.
func (a *Alert) ToStore(now time.Time) store.Alert {
	title := a.Annotations["summary"]
	if title == "" {
		title = a.Labels[model.AlertNameLabel]
	}
	msg := a.Annotations["description"]
	if msg == "" {
		msg = a.Annotations["summary"]
	}
	relID, relType, relName := related(a.Labels)
	// No start time here: created_at keeps the first sighting, and a
	// sender that leaves startsAt out posts a new one every time.
	meta := a.metadata()
	out := store.Alert{
		Fingerprint: a.Fingerprint(), Type: alertType(a.Labels), Severity: severity(a.Labels),
		Status: store.StatusActive, Title: title, Message: msg,
		RelatedID: relID, RelatedType: relType, RelatedName: relName,
		Labels: a.Labels, Metadata: meta, CreatedAt: a.StartsAt.UTC().Truncate(time.Microsecond),
		StartsAt: a.StartsAt.UTC().Truncate(time.Microsecond), Annotations: a.Annotations, GeneratorURL: a.GeneratorURL,
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.ExpiresAt, out.ResolvedAt = a.ends(now)
	if !out.ResolvedAt.IsZero() {
		out.Status = store.StatusResolved
	}
	return out
}

// metadata is the evaluator's detail as ez-api's detector writes it; of
// an alert from another sender, what it said of itself.
func (a *Alert) metadata() string {
	var v any = a.Detail
	if a.Detail == nil {
		v = struct {
			Alertname    string `json:"alertname,omitempty"`
			GeneratorURL string `json:"generatorURL,omitempty"`
		}{a.Labels[model.AlertNameLabel], a.GeneratorURL}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// DetailOf reads a stored alert's metadata back; nil when it is not the
// evaluator's.
func DetailOf(metadata string) *message.Detail {
	var d message.Detail
	if json.Unmarshal([]byte(metadata), &d) != nil || d.Value == nil && d.Threshold == nil && d.Window == "" {
		return nil
	}
	return &d
}

// ends is when a firing alert expires (zero: never by itself), or when a
// resolved one ended.
func (a *Alert) ends(now time.Time) (expiresAt, resolvedAt time.Time) {
	if a.firing(now) {
		return a.EndsAt.UTC(), time.Time{}
	}
	return time.Time{}, a.EndsAt.UTC()
}
