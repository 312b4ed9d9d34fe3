package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Outbox states.
const (
	OutboxPending = "pending"
	OutboxSending = "sending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
)

// OutboxItem is one notification waiting for (or done with) delivery.
// Attempts counts claims, so a claimed item's Attempts is the number of the
// attempt in progress.
type OutboxItem struct {
	ID             int64
	AlertID        int64 // 0: none
	Fingerprint    string
	ChannelID      int64 // 0: none
	Payload        json.RawMessage
	State          string
	Attempts       int
	NextAttemptAt  time.Time
	LastError      string
	IdempotencyKey string
	// GroupKey orders a channel's items: one waits while an older item of
	// its channel and group is unfinished.
	GroupKey  string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const outboxCols = `id, alert_id, fingerprint, channel_id, payload, state, attempts, next_attempt_at,
	last_error, idempotency_key, group_key, created_at, updated_at`

func scanOutbox(sc interface{ Scan(...any) error }) (OutboxItem, error) {
	var o OutboxItem
	var alertID, channelID, next, created, updated sql.NullInt64
	var payload string
	err := sc.Scan(&o.ID, &alertID, &o.Fingerprint, &channelID, &payload, &o.State, &o.Attempts, &next,
		&o.LastError, &o.IdempotencyKey, &o.GroupKey, &created, &updated)
	o.AlertID, o.ChannelID, o.Payload = alertID.Int64, channelID.Int64, json.RawMessage(payload)
	o.NextAttemptAt, o.CreatedAt, o.UpdatedAt = goTime(next), goTime(created), goTime(updated)
	return o, err
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// Enqueue adds a pending item due at o.NextAttemptAt (now if zero). The
// idempotency key makes it safe to repeat: a second Enqueue with the same
// key stores nothing and returns the existing item with created false.
// Items that carry alert notifications are enqueued with their claims
// (LedgerTx.Enqueue) instead.
func (s *Store) Enqueue(ctx context.Context, o OutboxItem) (out OutboxItem, created bool, err error) {
	defer s.op("outbox_enqueue", &err)()
	if err = s.checkOpen(); err != nil {
		return out, false, err
	}
	return s.enqueue(ctx, s.w, o)
}

func (s *Store) enqueue(ctx context.Context, q queryer, o OutboxItem) (out OutboxItem, created bool, err error) {
	if o.IdempotencyKey == "" {
		return out, false, fmt.Errorf("store: outbox item without idempotency key")
	}
	if len(o.Payload) == 0 || !json.Valid(o.Payload) {
		return out, false, fmt.Errorf("store: outbox payload must be valid JSON")
	}
	now := nowUTC()
	next := o.NextAttemptAt
	if next.IsZero() {
		next = now
	}
	out, err = scanOutbox(q.QueryRowContext(ctx, s.d.rebind(`INSERT INTO outbox (alert_id, fingerprint,
		channel_id, payload, state, attempts, next_attempt_at, last_error, idempotency_key, group_key, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'pending', 0, ?, '', ?, ?, ?, ?)
		ON CONFLICT (idempotency_key) DO NOTHING RETURNING `+outboxCols),
		nullID(o.AlertID), o.Fingerprint, nullID(o.ChannelID), string(o.Payload), dbTime(next),
		o.IdempotencyKey, o.GroupKey, dbTime(now), dbTime(now)))
	if err != sql.ErrNoRows {
		return out, err == nil, err
	}
	out, err = scanOutbox(q.QueryRowContext(ctx, s.d.rebind("SELECT "+outboxCols+
		" FROM outbox WHERE idempotency_key = ?"), o.IdempotencyKey))
	return out, false, err
}

// ClaimDue atomically moves up to limit pending items due at or before now
// to sending and returns them, oldest due first. Concurrent claimers (other
// goroutines or other receivers on PostgreSQL) never get the same item.
// An item whose channel has an older unfinished item of the same group
// waits for it, so a channel hears of a group's changes in order (a
// resolution never overtakes the firing it resolves while that is retried).
func (s *Store) ClaimDue(ctx context.Context, now time.Time, limit int) (items []OutboxItem, err error) {
	defer s.op("outbox_claim", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 1
	}
	// The outer state check keeps PostgreSQL's re-check after a concurrent
	// update honest; SKIP LOCKED keeps claimers from queueing on each other.
	rows, err := s.w.QueryContext(ctx, s.d.rebind(`UPDATE outbox SET state = 'sending', attempts = attempts + 1,
		updated_at = ? WHERE state = 'pending' AND id IN (SELECT id FROM outbox
		WHERE state = 'pending' AND next_attempt_at <= ? AND NOT EXISTS (SELECT 1 FROM outbox o
		WHERE o.channel_id = outbox.channel_id AND o.group_key = outbox.group_key AND o.id < outbox.id
		AND o.state IN ('pending', 'sending')) ORDER BY next_attempt_at, id LIMIT ?`+s.d.skipLocked+`)
		RETURNING `+outboxCols), nowUTC().UnixMicro(), now.UnixMicro(), limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanOutbox)
}

// MarkSent completes a claimed item: its claims are sent, each with its
// history entry, in the same transaction.
func (s *Store) MarkSent(ctx context.Context, id int64) (err error) {
	defer s.op("outbox_mark_sent", &err)()
	if err = s.checkOpen(); err != nil {
		return err
	}
	return s.finishOutbox(ctx, id, "state = 'sent', last_error = '', updated_at = ?", []any{nowUTC().UnixMicro()},
		&outcome{status: HistorySent})
}

// MarkSuppressed finishes a claimed item unsent on purpose (its channel is
// disabled): the item is done, its claims suppressed with reason.
func (s *Store) MarkSuppressed(ctx context.Context, id int64, reason string) (err error) {
	defer s.op("outbox_mark_suppressed", &err)()
	if err = s.checkOpen(); err != nil {
		return err
	}
	return s.finishOutbox(ctx, id, "state = 'sent', last_error = ?, updated_at = ?", []any{reason, nowUTC().UnixMicro()},
		&outcome{status: HistorySuppressed, reason: reason})
}

// MarkFailed records a failed attempt of a claimed item. A non-zero next
// puts it back to pending for a retry at that time; a zero next gives up
// (state failed, its claims failed with lastErr).
func (s *Store) MarkFailed(ctx context.Context, id int64, lastErr string, next time.Time) (err error) {
	defer s.op("outbox_mark_failed", &err)()
	if err = s.checkOpen(); err != nil {
		return err
	}
	now := nowUTC().UnixMicro()
	if next.IsZero() {
		return s.finishOutbox(ctx, id, "state = 'failed', last_error = ?, updated_at = ?", []any{lastErr, now},
			&outcome{status: HistoryFailed, reason: lastErr})
	}
	return s.finishOutbox(ctx, id, "state = 'pending', last_error = ?, next_attempt_at = ?, updated_at = ?",
		[]any{lastErr, next.UnixMicro(), now}, nil)
}

// finishOutbox moves a claimed item on, and, with an outcome, gives its
// claims that outcome. A worker whose claim was requeued as stale must not
// overwrite the newer claimer's outcome: the update needs state sending.
func (s *Store) finishOutbox(ctx context.Context, id int64, set string, args []any, o *outcome) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var attempts int
		err := tx.QueryRowContext(ctx, s.d.rebind("UPDATE outbox SET "+set+" WHERE id = ? AND state = 'sending' RETURNING attempts"),
			append(slices.Clone(args), id)...).Scan(&attempts)
		if err == sql.ErrNoRows {
			var state string
			if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT state FROM outbox WHERE id = ?"), id).Scan(&state); err != nil {
				return err // sql.ErrNoRows becomes ErrNotFound
			}
			return fmt.Errorf("%w: outbox item %d is %s", ErrConflict, id, state)
		}
		if err != nil || o == nil {
			return err
		}
		o.at, o.attempt = nowUTC(), attempts
		return s.finishClaims(ctx, tx, id, *o)
	})
}

// RequeueStale returns items stuck in sending since before olderThan (their
// worker crashed) to pending, due immediately. It returns how many moved.
func (s *Store) RequeueStale(ctx context.Context, olderThan time.Time) (n int64, err error) {
	defer s.op("outbox_requeue", &err)()
	if err = s.checkOpen(); err != nil {
		return 0, err
	}
	now := nowUTC().UnixMicro()
	res, err := s.exec(ctx, `UPDATE outbox SET state = 'pending', next_attempt_at = ?, updated_at = ?
		WHERE state = 'sending' AND updated_at < ?`, now, now, olderThan.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// GetOutboxItem returns one item or ErrNotFound.
func (s *Store) GetOutboxItem(ctx context.Context, id int64) (o OutboxItem, err error) {
	defer s.op("outbox_get", &err)()
	if err = s.checkOpen(); err != nil {
		return o, err
	}
	return scanOutbox(s.r.QueryRowContext(ctx, s.d.rebind("SELECT "+outboxCols+" FROM outbox WHERE id = ?"), id))
}
