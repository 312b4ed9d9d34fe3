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

// inhibitIndex is, per rule, up to two firing sources per value of the
// Equal labels: enough to name a source other than the alert itself, so
// an alert that is its rule's only source does not inhibit itself. Built
// once per flush pass: the sources change between passes, not within one.
type inhibitIndex []map[string][2]string

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
		idx[i] = map[string][2]string{}
	}
	for fp, h := range d.alerts {
		if !h.firing(now) {
			continue
		}
		ls := h.labelSet()
		for i, r := range rules {
			if r.Source.Matches(ls) {
				k := equalKey(r.Equal, ls)
				srcs := idx[i][k]
				switch {
				case srcs[0] == "":
					srcs[0] = fp
				case srcs[1] == "" && srcs[0] != fp:
					srcs[1] = fp
				}
				idx[i][k] = srcs
			}
		}
	}
	return idx
}

// inhibitedBy returns the fingerprint of a firing source, other than the
// alert itself, that mutes the alert ls; "" if none does.
func (idx inhibitIndex) inhibitedBy(rules []Inhibition, ls model.LabelSet, fp string) string {
	for i, r := range rules {
		if !r.Target.Matches(ls) {
			continue
		}
		for _, src := range idx[i][equalKey(r.Equal, ls)] {
			if src != "" && src != fp {
				return src
			}
		}
	}
	return ""
}
