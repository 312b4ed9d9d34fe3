package throttle

import (
	"context"
	"sync"
)

// queue feeds the worker pool. It never blocks the producer: Observe runs
// on the evaluator's goroutine, and 1,000 anomalies in one evaluation must
// not stall it. Its length is bounded anyway, by the instances: each has at
// most one gateway job at a time, and notes are a few per decision.
//
// Gateway jobs go before notes (audit records and alerts of decisions not
// to throttle), so a burst of capped anomalies does not delay the PATCHes
// of the ones that are throttled.
type queue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	urgent  []func(context.Context)
	notes   []func(context.Context)
	pending int  // queued plus running
	closed  bool // workers stop once it is empty
	dead    bool // workers stopped
	idle    []chan struct{}
}

func newQueue() *queue {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push queues a job. Closed, the queue still takes jobs (follow-ups of
// the jobs being drained); once the workers are gone it drops them.
func (q *queue) push(urgent bool, job func(context.Context)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return
	}
	if urgent {
		q.urgent = append(q.urgent, job)
	} else {
		q.notes = append(q.notes, job)
	}
	q.pending++
	q.cond.Signal()
}

// pop waits for a job; nil once the queue is closed and empty.
func (q *queue) pop() func(context.Context) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.urgent) == 0 && len(q.notes) == 0 {
		if q.closed {
			return nil
		}
		q.cond.Wait()
	}
	var job func(context.Context)
	if len(q.urgent) > 0 {
		job, q.urgent[0] = q.urgent[0], nil
		q.urgent = q.urgent[1:]
	} else {
		job, q.notes[0] = q.notes[0], nil
		q.notes = q.notes[1:]
	}
	return job
}

// done ends a popped job. A job that queues a follow-up does so before it
// is done, so pending cannot touch zero between the two.
func (q *queue) done() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending--
	if q.pending == 0 {
		for _, ch := range q.idle {
			close(ch)
		}
		q.idle = nil
	}
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.urgent) + len(q.notes)
}

// wait returns once nothing is queued or running.
func (q *queue) wait(ctx context.Context) error {
	q.mu.Lock()
	if q.pending == 0 {
		q.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	q.idle = append(q.idle, ch)
	q.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// kill drops what is left once the workers have stopped.
func (q *queue) kill() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dead = true
	q.urgent, q.notes = nil, nil
}
