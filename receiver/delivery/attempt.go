package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/store"
)

// maxErrorLen bounds an error kept in the outbox and the history.
// Integrations already keep theirs short; this is a backstop.
const maxErrorLen = 1024

// Notification outcomes, the status label of gatewarden_notifications_total.
const (
	statusSent       = "sent"
	statusRetried    = "retried"
	statusFailed     = "failed"
	statusSuppressed = "suppressed"
)

// deliver takes one claimed item to an outcome: sent, suppressed, a retry
// scheduled, given up, or given back unsent.
func (w *Worker) deliver(ctx context.Context, it store.OutboxItem, heldSince time.Time) {
	if it.ChannelID == 0 {
		w.finishFailed(ctx, it, store.Channel{}, errors.New("outbox item has no channel"), false)
		return
	}
	// Read each time: an edit (a fixed URL, a disabled channel) counts from
	// the next attempt, for one indexed read beside an HTTP request.
	ch, err := w.o.Store.GetChannel(ctx, it.ChannelID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		w.finishFailed(ctx, it, store.Channel{ID: it.ChannelID},
			fmt.Errorf("channel %d no longer exists", it.ChannelID), false)
		return
	case err != nil && ctx.Err() != nil:
		w.giveBack(ctx, it, w.o.Now()) // shutting down
		return
	case err != nil:
		// The store is in trouble, not the channel: try again later
		// without counting it against the channel.
		w.log.Warn("loading a notification's channel failed", "outbox_id", it.ID, "err", err)
		w.giveBack(ctx, it, w.o.Now().Add(w.retryDelay(it.Attempts, nil)))
		return
	}
	w.mu.Lock()
	w.names[ch.ID] = ch.Name
	w.mu.Unlock()
	if !ch.Enabled {
		// Done rather than held: a disabled channel should not flood its
		// destination with stale notifications when it is enabled again.
		// The item is 'sent' (finished) and the history says why.
		w.finishSuppressed(ctx, it, ch, "channel disabled")
		return
	}
	var m message.Message
	if err := json.Unmarshal(it.Payload, &m); err != nil || m.Data == nil {
		if err == nil {
			err = errors.New("no alert data")
		}
		w.finishFailed(ctx, it, ch, fmt.Errorf("outbox payload is not a notification: %w", err), false)
		return
	}

	ln := w.lane(ch.ID)
	waitLeft := w.o.AttemptTimeout - time.Since(heldSince)
	if !ln.acquire(ctx, waitLeft) {
		w.laneBusy(ctx, it, ch)
		return
	}
	defer ln.release()
	wait, ok := ln.reserve(time.Now(), w.o.AttemptTimeout-time.Since(heldSince))
	if !ok {
		w.laneBusy(ctx, it, ch)
		return
	}
	if !sleep(ctx, wait) {
		// Shutdown before the send began: the next process sends it.
		w.giveBack(ctx, it, w.o.Now())
		return
	}

	n, err := w.o.Builder.Notifier(ch.Type, ch.Config)
	if err != nil {
		// Retried, not given up: the config can be fixed without touching
		// the items, which should then go out. MaxAge bounds the wait.
		err = fmt.Errorf("channel config: %w", err)
		w.noteHealth(ch, err)
		w.finishFailed(ctx, it, ch, err, true)
		return
	}
	// Not cancelled by ctx: a send cut off halfway has an unknown outcome
	// and would be sent again; AttemptTimeout bounds the shutdown instead.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.o.AttemptTimeout)
	start := time.Now()
	m.ID = it.ID
	retry, err := n.Notify(actx, &m)
	cancel()
	w.m.attempt.WithLabelValues(ch.Name).Observe(time.Since(start).Seconds())
	// Health first, so that by the time the outcome is in the store the
	// callbacks have run.
	w.noteHealth(ch, err)
	if err != nil {
		w.finishFailed(ctx, it, ch, err, retry)
		return
	}
	w.finishSent(ctx, it, ch)
}

// sleep waits d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil || d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// laneBusy handles a claim its lane could not start within AttemptTimeout
// (or before shutdown): it goes back to the outbox so that one slow
// channel does not hold every claim while other channels' items wait.
func (w *Worker) laneBusy(ctx context.Context, it store.OutboxItem, ch store.Channel) {
	if ctx.Err() != nil {
		w.giveBack(ctx, it, w.o.Now())
		return
	}
	if age := w.o.Now().Sub(it.CreatedAt); age >= w.o.MaxAge {
		w.finishFailed(ctx, it, ch, fmt.Errorf("channel %q too busy to send", ch.Name), true)
		return
	}
	// Later than items due now, so those are claimed first.
	w.giveBack(ctx, it, w.o.Now().Add(w.o.AttemptTimeout))
}

// outcomeCtx is for recording an outcome: a send that happened must be
// recorded even when shutdown has begun.
func (w *Worker) outcomeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), w.o.AttemptTimeout)
}

func (w *Worker) finishSent(ctx context.Context, it store.OutboxItem, ch store.Channel) {
	now := w.o.Now()
	w.m.notifications.WithLabelValues(ch.Name, statusSent).Inc()
	w.m.latency.WithLabelValues(ch.Name).Observe(max(now.Sub(it.CreatedAt), 0).Seconds())
	octx, cancel := w.outcomeCtx(ctx)
	defer cancel()
	// The item, its claims and their history entries in one transaction.
	if err := w.o.Store.MarkSent(octx, it.ID); err != nil {
		// Sent but not marked: the item will be sent again once requeued
		// (at-least-once), and recorded then.
		w.log.Warn("notification sent but not marked sent; it may be sent again",
			"outbox_id", it.ID, "channel", ch.Name, "err", err)
	}
	w.log.Debug("notification sent", "outbox_id", it.ID, "channel", ch.Name, "attempt", it.Attempts)
}

func (w *Worker) finishSuppressed(ctx context.Context, it store.OutboxItem, ch store.Channel, reason string) {
	w.m.notifications.WithLabelValues(ch.Name, statusSuppressed).Inc()
	octx, cancel := w.outcomeCtx(ctx)
	defer cancel()
	if err := w.o.Store.MarkSuppressed(octx, it.ID, reason); err != nil {
		w.log.Warn("marking a suppressed notification done failed", "outbox_id", it.ID, "err", err)
	}
}

// finishFailed records a failed attempt: a retry at the backoff time when
// retry holds and the item is younger than MaxAge, otherwise given up. The
// channel's health is the caller's business: a bad payload or a deleted
// channel says nothing about whether the channel works.
func (w *Worker) finishFailed(ctx context.Context, it store.OutboxItem, ch store.Channel, err error, retry bool) {
	now := w.o.Now()
	msg := truncate(err.Error())
	status := statusRetried
	var next time.Time
	switch age := now.Sub(it.CreatedAt); {
	case !retry:
		status = statusFailed
	case age >= w.o.MaxAge:
		status = statusFailed
		msg = truncate(fmt.Sprintf("gave up after %d attempts over %s: %s", it.Attempts, age.Round(time.Second), msg))
	default:
		next = now.Add(w.retryDelay(it.Attempts, err))
	}
	name := w.channelName(ch)
	w.m.notifications.WithLabelValues(name, status).Inc()
	octx, cancel := w.outcomeCtx(ctx)
	defer cancel()
	// A retry leaves the claims pending with the error on the item; giving
	// up fails them, each with its history entry.
	if merr := w.o.Store.MarkFailed(octx, it.ID, msg, next); merr != nil && !errors.Is(merr, store.ErrNotFound) {
		w.log.Warn("recording a failed notification failed", "outbox_id", it.ID, "err", merr)
	}
	if status == statusFailed {
		w.log.Warn("notification failed", "outbox_id", it.ID, "channel", name, "attempt", it.Attempts, "err", msg)
	} else {
		w.log.Debug("notification attempt failed; will retry", "outbox_id", it.ID, "channel", name,
			"attempt", it.Attempts, "next", next, "err", msg)
	}
}

// giveBack returns an unsent claim to pending, due at next, keeping its
// last error. No history: nothing was attempted.
func (w *Worker) giveBack(ctx context.Context, it store.OutboxItem, next time.Time) {
	octx, cancel := w.outcomeCtx(ctx)
	defer cancel()
	if err := w.o.Store.MarkFailed(octx, it.ID, it.LastError, next); err != nil && !errors.Is(err, store.ErrNotFound) {
		w.log.Warn("giving back an unsent notification failed", "outbox_id", it.ID, "err", err)
	}
}

func (w *Worker) channelName(ch store.Channel) string {
	if ch.Name != "" {
		return ch.Name
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.names[ch.ID]; n != "" {
		return n
	}
	return "unknown"
}

func truncate(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	s = s[:maxErrorLen]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
