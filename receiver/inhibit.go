package receiver

import (
	"strings"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
)

// Inhibition mutes alerts matching Target while an alert matching Source
// fires with the same values of the Equal labels, as Alertmanager's
// inhibit_rules.
type Inhibition struct {
	Source, Target labels.Matchers
	Equal          []model.LabelName
}

// inhibitIndex is, per rule, the Equal values of the firing sources, with
// the fingerprint of one source so an alert that is its rule's only source
// does not inhibit itself. Built once per flush pass: the sources change
// between passes, not within one.
type inhibitIndex []map[string]string

func equalKey(eq []model.LabelName, ls model.LabelSet) string {
	var b strings.Builder
	for _, n := range eq {
		b.WriteString(string(ls[n]))
		b.WriteByte(0)
	}
	return b.String()
}

func (d *Dispatcher) buildInhibitIndex(rules []Inhibition, now time.Time) inhibitIndex {
	idx := make(inhibitIndex, len(rules))
	for i := range idx {
		idx[i] = map[string]string{}
	}
	for fp, h := range d.alerts {
		if !h.endsAt.After(now) {
			continue
		}
		ls := h.labelSet()
		for i, r := range rules {
			if r.Source.Matches(ls) {
				k := equalKey(r.Equal, ls)
				if prev, ok := idx[i][k]; !ok || prev == fp {
					idx[i][k] = fp
				} else {
					idx[i][k] = "" // several sources: nobody is its only source
				}
			}
		}
	}
	return idx
}

// inhibited reports whether a firing source mutes the alert ls.
func (idx inhibitIndex) inhibited(rules []Inhibition, ls model.LabelSet, fp string) bool {
	for i, r := range rules {
		if !r.Target.Matches(ls) {
			continue
		}
		if src, ok := idx[i][equalKey(r.Equal, ls)]; ok && src != fp {
			return true
		}
	}
	return false
}
