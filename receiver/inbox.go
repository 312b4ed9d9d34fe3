package receiver

// Inbox is where alerts enter the receiver, whoever sends them (ingest,
// the evaluator, the auto-throttle, a failing channel): the recorder keeps
// their lifecycle in the store, Route takes them on to the dispatcher.
type Inbox struct {
	Recorder *Recorder
	// Route must not block for long; Dispatcher.Add in the daemon.
	Route func([]Alert)
}

// Take records and routes alerts. Unless force, a store that is failing or
// behind refuses them with ErrBacklog, so ingest can answer 503; senders
// inside the process force, since they re-send what fires anyway and the
// recorder's coalescing bounds the backlog.
func (in Inbox) Take(alerts []Alert, force bool) error {
	if err := in.Recorder.Record(alerts, force); err != nil {
		return err
	}
	in.Route(alerts)
	return nil
}
