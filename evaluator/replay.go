package evaluator

import (
	"context"
	"time"
)

// Replay evaluates the manager's groups at successive timestamps the way
// their loops do when every timestamp brings a scrape of their metrics: a
// group evaluates when at least half its interval has passed since its
// last evaluation (see Group.loop), so a 1m group over 10 s scrapes
// evaluates every 30 s, as it does live. Backtests drive it over recorded
// data on the caller's goroutine.
type Replay struct {
	m    *Manager
	last map[*Group]time.Time
}

// NewReplay returns a replay of m's groups; none has evaluated yet.
func NewReplay(m *Manager) *Replay { return &Replay{m: m, last: map[*Group]time.Time{}} }

// EvalAt evaluates the groups due at ts, in file and name order.
func (r *Replay) EvalAt(ctx context.Context, ts time.Time) {
	for _, g := range r.m.Groups() {
		if last, ok := r.last[g]; ok && ts.Sub(last) < g.interval/2 {
			continue
		}
		g.Eval(ctx, ts, r.m)
		r.last[g] = ts
	}
}
