package receiver

import (
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// held is an alert as the dispatcher keeps it between flushes: labels and
// annotations in Prometheus's compact form (one string each) rather than
// two Go maps, which for 100,000 active alerts is most of the receiver's
// memory. Flushes turn it back into an Alert.
type held struct {
	fp                  string
	labels, annotations labels.Labels
	startsAt, endsAt    time.Time
	generatorURL        string
	// routedBy is the plan the alert was routed with; a reload routes
	// again.
	routedBy *Plan
}

// update takes a re-post's changing parts. Annotations are compared
// before they are rebuilt: they rarely change.
func (h *held) update(a Alert) {
	h.startsAt, h.endsAt, h.generatorURL = a.StartsAt, a.EndsAt, a.GeneratorURL
	if h.annotations.Len() != len(a.Annotations) || !sameLabels(h.annotations, a.Annotations) {
		h.annotations = labels.FromMap(a.Annotations)
	}
}

func sameLabels(ls labels.Labels, m map[string]string) bool {
	same := true
	ls.Range(func(l labels.Label) {
		if v, ok := m[l.Name]; !ok || v != l.Value {
			same = false
		}
	})
	return same
}

func newHeld(a Alert) *held {
	return &held{fp: a.Fingerprint(), labels: labels.FromMap(a.Labels), annotations: labels.FromMap(a.Annotations),
		startsAt: a.StartsAt, endsAt: a.EndsAt, generatorURL: a.GeneratorURL}
}

func (h *held) alert() Alert {
	return Alert{Labels: h.labels.Map(), Annotations: h.annotations.Map(), StartsAt: h.startsAt, EndsAt: h.endsAt, GeneratorURL: h.generatorURL}
}

func (h *held) labelSet() model.LabelSet {
	ls := make(model.LabelSet, h.labels.Len())
	h.labels.Range(func(l labels.Label) { ls[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return ls
}
