package receiver

import (
	"context"
	"time"
)

// Inbox is where alerts enter the receiver, whoever sends them (ingest,
// the evaluator, the auto-throttle, a failing channel): Episodes names
// their episodes, the recorder keeps them in the store, Route takes them
// on to the dispatcher once they are there.
type Inbox struct {
	// Episodes is required: without it a sender that posts no startsAt
	// would start a new episode, and write the alert, at every post.
	Episodes *Episodes
	Recorder *Recorder
	// Route must not block for long; Dispatcher.Add in the daemon.
	Route func([]Alert)
	// Now is the clock that decides what has ended; time.Now if nil.
	Now func() time.Time
}

// inProcessWait bounds how long an in-process sender waits for the store:
// a store that is down must not stall the evaluator; its alerts are
// routed anyway and the recorder writes them when the store is back.
const inProcessWait = 5 * time.Second

// Take names, records and routes alerts. Unless force, a store that is
// failing or behind refuses them with ErrBacklog, so ingest can answer 503,
// and Take returns only once what changed is in the store (or ctx ends,
// ErrBacklog too): an alert ingest accepted survives a kill -9. Senders
// inside the process force, since they re-send what fires anyway and the
// recorder's coalescing bounds the backlog.
func (in Inbox) Take(ctx context.Context, alerts []Alert, force bool) error {
	now := time.Now()
	if in.Now != nil {
		now = in.Now()
	}
	for i := range alerts {
		if alerts[i].StartsAt.IsZero() {
			alerts[i].StartsAt = now
		}
	}
	in.Episodes.Assign(alerts, now)
	wait, err := in.Recorder.Record(alerts, force)
	if err != nil {
		return err
	}
	if force {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), inProcessWait)
		defer cancel()
		_ = wait(ctx)
	} else if err := wait(ctx); err != nil {
		return err
	}
	in.Route(alerts)
	return nil
}
