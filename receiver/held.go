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
