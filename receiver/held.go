package receiver

import (
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/receiver/message"
)

// held is an alert as the dispatcher keeps it between flushes: labels and
// annotations in Prometheus's compact form (one string each) rather than
// two Go maps, which for 100,000 active alerts is most of the receiver's
// memory, and its episodes, whose starts and ends are the state changes
// the groups decide. Flushes turn it back into an Alert.
type held struct {
	fp                  string
	labels, annotations labels.Labels
	generatorURL        string
	detail              *message.Detail
	// eps are the episodes not yet decided everywhere, oldest first; the
	// last is the current one.
	eps []episode
	// base counts the episodes dropped from eps: change k (firing of
	// episode k/2 when even, its resolution when odd) is absolute.
	base int
	// in are the groups holding the alert, which all decide its changes.
	in []*group
	// routedBy is the plan the alert was routed with; a reload routes
	// again.
	routedBy *Plan
	// updated is when the alert was last posted, for the read API.
	updated time.Time
}

// episode is one firing of an alert, from start to end; a zero end is
// open-ended (an in-process sender resolves it explicitly).
type episode struct{ start, end time.Time }

func (e episode) ended(now time.Time) bool { return !e.end.IsZero() && !e.end.After(now) }

func newHeld(a Alert) *held {
	return &held{fp: a.Fingerprint(), labels: labels.FromMap(a.Labels), annotations: labels.FromMap(a.Annotations),
		generatorURL: a.GeneratorURL, detail: a.Detail, eps: []episode{{a.StartsAt, a.EndsAt}}}
}

// update takes a re-post. Its startsAt is the episode the Episodes tracker
// assigned: the current one continues (its end moves), a later one starts
// a new episode and ends the current one no later than that; an earlier
// one is a post that arrived out of order, already superseded.
func (h *held) update(a Alert) {
	cur := &h.eps[len(h.eps)-1]
	switch {
	case a.StartsAt.Equal(cur.start):
		cur.end = a.EndsAt
	case a.StartsAt.After(cur.start):
		if cur.end.IsZero() || cur.end.After(a.StartsAt) {
			cur.end = a.StartsAt
		}
		h.eps = append(h.eps, episode{a.StartsAt, a.EndsAt})
	default:
		return
	}
	h.generatorURL = a.GeneratorURL
	if a.Detail != nil {
		h.detail = a.Detail
	}
	// Annotations are compared before they are rebuilt: they rarely change.
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

// addEpisode inserts an episode the store says is open (notified as
// firing, resolution not yet decided), which ended before the next one.
func (h *held) addEpisode(start time.Time) {
	for i, e := range h.eps {
		switch {
		case e.start.Equal(start):
			return
		case e.start.After(start):
			h.eps = append(h.eps[:i], append([]episode{{start, e.start}}, h.eps[i:]...)...)
			return
		}
	}
	cur := &h.eps[len(h.eps)-1]
	if cur.end.IsZero() || cur.end.After(start) {
		cur.end = start
	}
	h.eps = append(h.eps, episode{start: start, end: start})
}

// change is one state change of an alert: the firing or the resolution
// of one of its episodes.
type change struct {
	k        int // absolute index
	ep       episode
	resolved bool
	// next is the start of the episode after this one, zero for the
	// current episode.
	next time.Time
}

// happened is how many state changes have happened by now, counted from
// the first episode ever held: a firing for each episode, a resolution
// for each but a current one still firing.
func (h *held) happened(now time.Time) int {
	n := 2 * (h.base + len(h.eps))
	if !h.eps[len(h.eps)-1].ended(now) {
		n--
	}
	return n
}

// change returns state change k.
func (h *held) change(k int) change {
	i := k/2 - h.base
	c := change{k: k, ep: h.eps[i], resolved: k%2 == 1}
	if i+1 < len(h.eps) {
		c.next = h.eps[i+1].start
	}
	return c
}

// firing reports whether the current episode is firing at now.
func (h *held) firing(now time.Time) bool { return !h.eps[len(h.eps)-1].ended(now) }

// trim drops the episodes every group holding the alert has decided.
func (h *held) trim() {
	for len(h.eps) > 1 {
		for _, g := range h.in {
			if g.done[h.fp] < 2*(h.base+1) {
				return
			}
		}
		h.eps = h.eps[1:]
		h.base++
	}
}

// alert is the alert as of episode e.
func (h *held) alert(e episode) Alert {
	return Alert{Labels: h.labels.Map(), Annotations: h.annotations.Map(), StartsAt: e.start, EndsAt: e.end,
		GeneratorURL: h.generatorURL, Detail: h.detail, fp: h.fp}
}

func (h *held) labelSet() model.LabelSet { return labelSetOf(h.labels) }
