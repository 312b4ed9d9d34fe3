package ledgertest

import (
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/common/model"
)

// The reference model, written from docs/receiver.md ("The ledger") and
// not from gatewarden's code: from the posts, in the order the daemons
// accepted them, it derives the episodes of every alert and the state
// changes they owe.

const (
	transFiring   = "firing"
	transResolved = "resolved"
	transRepeat   = "repeat"

	// resolveTimeout is Alertmanager's: a firing alert posted without
	// endsAt resolves after it. The generator always sets endsAt; this is
	// for the checker's unit tests and hand-written histories.
	resolveTimeout = 5 * time.Minute
)

// alertPost is one alert of a POST /api/v2/alerts body, as sent.
type alertPost struct {
	Labels   model.LabelSet
	StartsAt time.Time
	EndsAt   time.Time
}

// post is one accepted POST: when it was sent and what it carried. A post
// sent to both members of an HA pair is one post.
type post struct {
	At     time.Time
	Alerts []alertPost
}

// changeKey names a state change as the history does: the same key twice
// is the same change (the HA pair's lagging member repeating an episode).
type changeKey struct {
	FP         string
	Transition string
	Episode    int64 // startsAt, unix nanoseconds
}

func (k changeKey) String() string {
	return fmt.Sprintf("%s %s episode %s", k.FP, k.Transition, time.Unix(0, k.Episode).UTC().Format(time.RFC3339Nano))
}

// span is a stretch of time an episode was open; To is zero while open.
type span struct{ From, To time.Time }

// episode is one firing of an alert, named by its startsAt.
type episode struct {
	FP     string
	Labels model.LabelSet
	Start  time.Time // its name
	Opened time.Time // when the post opening it was sent
	Ended  time.Time // when it first ended; zero if it never did
	Spans  []span    // open stretches: a lagging repeat reopens it
	endsAt time.Time // the last endsAt posted while open
}

func (e *episode) open() bool { return len(e.Spans) > 0 && e.Spans[len(e.Spans)-1].To.IsZero() }

// openDuring reports whether e was open at some moment of [from, to].
func (e *episode) openDuring(from, to time.Time) bool {
	for _, s := range e.Spans {
		if !s.From.After(to) && (s.To.IsZero() || !s.To.Before(from)) {
			return true
		}
	}
	return false
}

// openThroughout reports whether e was open during all of [from, to].
func (e *episode) openThroughout(from, to time.Time) bool {
	for _, s := range e.Spans {
		if !s.From.After(from) && (s.To.IsZero() || !s.To.Before(to)) {
			return true
		}
	}
	return false
}

// change is a state change the model owes a history entry per channel.
type change struct {
	Key    changeKey
	Labels model.LabelSet
	At     time.Time // when gatewarden could first know of it
	Ep     *episode
}

type ledgerModel struct {
	Episodes map[string][]*episode // by fingerprint, in order of opening
	Changes  map[changeKey]*change
	Labels   map[string]model.LabelSet
}

func fingerprint(ls model.LabelSet) string { return ls.Fingerprint().String() }

// deriveModel replays posts (sorted by At) and lets every endsAt that
// passed before end expire.
func deriveModel(posts []post, end time.Time) *ledgerModel {
	m := &ledgerModel{Episodes: map[string][]*episode{}, Changes: map[changeKey]*change{}, Labels: map[string]model.LabelSet{}}
	open := map[string]*episode{}
	closeAt := func(e *episode, at, learnt time.Time) {
		e.Spans[len(e.Spans)-1].To = at
		if e.Ended.IsZero() {
			e.Ended = at
		}
		delete(open, e.FP)
		m.add(e, transResolved, learnt)
	}
	expire := func(fp string, now time.Time) {
		if e := open[fp]; e != nil && !e.endsAt.After(now) {
			closeAt(e, e.endsAt, e.endsAt)
		}
	}
	for _, p := range posts {
		for _, a := range p.Alerts {
			fp := fingerprint(a.Labels)
			m.Labels[fp] = a.Labels
			expire(fp, p.At)
			start := a.StartsAt
			if start.IsZero() {
				start = p.At
			}
			ends := a.EndsAt
			if ends.IsZero() {
				ends = p.At.Add(resolveTimeout)
			}
			if ends.After(p.At) { // firing
				if e := open[fp]; e != nil {
					e.endsAt = ends // a re-post continues it, whatever its startsAt
					continue
				}
				if e := m.episode(fp, start); e != nil {
					// The lagging member of an HA pair: the same episode
					// again, owing nothing new (its changes are keyed).
					e.Spans = append(e.Spans, span{From: p.At})
					e.endsAt = ends
					open[fp] = e
					continue
				}
				e := &episode{FP: fp, Labels: a.Labels, Start: start, Opened: p.At, Spans: []span{{From: p.At}}, endsAt: ends}
				m.Episodes[fp] = append(m.Episodes[fp], e)
				open[fp] = e
				m.add(e, transFiring, p.At)
				continue
			}
			if e := open[fp]; e != nil {
				closeAt(e, p.At, p.At)
			}
		}
	}
	fps := make([]string, 0, len(open))
	for fp := range open {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	for _, fp := range fps {
		expire(fp, end)
	}
	return m
}

func (m *ledgerModel) add(e *episode, transition string, at time.Time) {
	k := changeKey{FP: e.FP, Transition: transition, Episode: e.Start.UnixNano()}
	if m.Changes[k] == nil {
		m.Changes[k] = &change{Key: k, Labels: e.Labels, At: at, Ep: e}
	}
}

func (m *ledgerModel) episode(fp string, start time.Time) *episode {
	for _, e := range m.Episodes[fp] {
		if e.Start.Equal(start) {
			return e
		}
	}
	return nil
}

// later reports whether fp has an episode that opened after e.
func (m *ledgerModel) later(e *episode) bool {
	for _, o := range m.Episodes[e.FP] {
		if o.Start.After(e.Start) {
			return true
		}
	}
	return false
}

// sortedChanges lists the changes in a stable order for reports.
func (m *ledgerModel) sortedChanges() []*change {
	out := make([]*change, 0, len(m.Changes))
	for _, c := range m.Changes {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		if a.Key.FP != b.Key.FP {
			return a.Key.FP < b.Key.FP
		}
		return a.Key.Transition < b.Key.Transition
	})
	return out
}
