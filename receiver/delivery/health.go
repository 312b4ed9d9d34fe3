package delivery

import (
	"errors"

	"github.com/gatewarden/gatewarden/store"
)

// channelHealth is one channel's run of consecutive failed attempts.
type channelHealth struct {
	consecutive int
	failing     bool
}

// noteHealth counts an attempt's outcome (err nil: success) toward its
// channel's failure streak and calls OnFailing when the streak reaches the
// threshold, OnRecovered on the first success after that. The state and
// the callbacks share one lock so the callbacks see the transitions in
// order: a recovery is never reported before the failure it ends.
//
// Each receiver counts its own attempts; with several receivers on one
// store, each may raise the alert, which the alert's identity deduplicates.
func (w *Worker) noteHealth(ch store.Channel, err error) {
	var rl interface{ RateLimited() bool }
	if err != nil && errors.As(err, &rl) && rl.RateLimited() {
		return
	}
	w.healthMu.Lock()
	defer w.healthMu.Unlock()
	h := w.health[ch.ID]
	if h == nil {
		h = &channelHealth{}
		w.health[ch.ID] = h
	}
	public := ch
	public.Config = nil // never hand a channel's secrets to an alert
	if err == nil {
		h.consecutive = 0
		if h.failing {
			h.failing = false
			w.m.failing.WithLabelValues(ch.Name).Set(0)
			w.log.Info("channel recovered", "channel", ch.Name)
			if w.o.OnRecovered != nil {
				w.o.OnRecovered(public)
			}
		}
		return
	}
	h.consecutive++
	if h.failing || h.consecutive < w.o.FailingThreshold {
		return
	}
	h.failing = true
	w.m.failing.WithLabelValues(ch.Name).Set(1)
	w.log.Error("channel is failing", "channel", ch.Name, "consecutive_failures", h.consecutive, "err", err)
	if w.o.OnFailing != nil {
		w.o.OnFailing(public, h.consecutive, err)
	}
}
