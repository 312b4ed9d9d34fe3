package evaluator

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/prometheus/promql"
)

// queryCache shares the result of an expression among all rules and groups
// evaluated at the same timestamp: a thousand per-master thresholds over
// ten expressions cost ten queries a cycle. Concurrent askers of one
// expression wait for a single query.
type queryCache struct {
	mtx     sync.Mutex
	ts      time.Time
	results map[string]*queryCall
}

type queryCall struct {
	done chan struct{}
	v    promql.Vector
	err  error
}

// do runs expr at ts once for every asker. The query itself runs under
// shared, not the first asker's ctx: one group stopping (a reload) must
// not fail the others waiting on the result, but the manager stopping
// cancels it, so a stop never waits for an evaluation in progress.
func (c *queryCache) do(ctx, shared context.Context, expr string, ts time.Time, run func(context.Context, string, time.Time) (promql.Vector, error)) (promql.Vector, error) {
	c.mtx.Lock()
	switch {
	case ts.After(c.ts) || c.results == nil:
		c.ts, c.results = ts, map[string]*queryCall{}
	case ts.Before(c.ts):
		// A group lagging behind the others: its timestamp is no longer
		// cached, and it is not worth evicting the current one for.
		c.mtx.Unlock()
		return run(ctx, expr, ts)
	}
	call, ok := c.results[expr]
	if !ok {
		call = &queryCall{done: make(chan struct{})}
		c.results[expr] = call
	}
	c.mtx.Unlock()
	if ok {
		select {
		case <-call.done:
			return call.v, call.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	call.v, call.err = run(shared, expr, ts)
	close(call.done)
	return call.v, call.err
}
