package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// State changes a notification carries.
const (
	TransitionFiring   = "firing"
	TransitionResolved = "resolved"
	// TransitionRepeat is a repeat_interval reminder: not a state change,
	// claimed per repeat period so receivers sharing a store send it once.
	TransitionRepeat = "repeat"
)

// NotificationPending is a claim whose outbox item has no outcome yet; the
// final statuses are the history's (sent, failed, suppressed).
const NotificationPending = "pending"

// Notification is one claim of the ledger: what one state change of one
// alert owes one channel, and what became of it.
type Notification struct {
	ID          int64
	Fingerprint string
	// Episode is the episode's startsAt (for a repeat, its repeat period).
	Episode    time.Time
	Transition string
	ChannelID  int64
	Receiver   string
	GroupKey   string
	Status     string
	Reason     string
	OutboxID   int64
	// Peer names the process that claimed it.
	Peer      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const notificationCols = `id, fingerprint, episode, transition, channel_id, receiver, group_key, status, reason,
	outbox_id, peer, created_at, updated_at`

func scanNotification(sc interface{ Scan(...any) error }) (Notification, error) {
	var n Notification
	var episode, outbox, created, updated sql.NullInt64
	err := sc.Scan(&n.ID, &n.Fingerprint, &episode, &n.Transition, &n.ChannelID, &n.Receiver, &n.GroupKey,
		&n.Status, &n.Reason, &outbox, &n.Peer, &created, &updated)
	n.Episode, n.OutboxID = time.UnixMicro(episode.Int64).UTC(), outbox.Int64
	n.CreatedAt, n.UpdatedAt = goTime(created), goTime(updated)
	return n, err
}

// LedgerTx is one transaction on the ledger: a dispatcher's flush of one
// group reads the claims it decides by, claims the state changes it owes
// and enqueues what it notifies, all or nothing.
type LedgerTx struct {
	s   *Store
	ctx context.Context
	tx  *sql.Tx
	now time.Time
}

// InLedger runs fn in one write transaction; now is the time of the
// claims it makes (the caller's clock, which its cooldowns are measured
// on). fn may run again when PostgreSQL aborts the transaction to break a
// deadlock with another receiver, so it must not keep what it learnt from
// an earlier run.
func (s *Store) InLedger(ctx context.Context, now time.Time, fn func(*LedgerTx) error) (err error) {
	defer s.op("ledger", &err)()
	if err = s.checkOpen(); err != nil {
		return err
	}
	at := now.UTC().Truncate(time.Microsecond)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return fn(&LedgerTx{s: s, ctx: ctx, tx: tx, now: at})
	})
}

// inChunks calls fn with slices of at most 500 of xs: an IN list's
// placeholders stay far below either database's limit.
func inChunks[T any](xs []T, fn func([]T) error) error {
	for start := 0; start < len(xs); start += 500 {
		if err := fn(xs[start:min(start+500, len(xs))]); err != nil {
			return err
		}
	}
	return nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// Firings returns the firing claims of the alerts fps: those made since
// since (what a cooldown looks back on) and those of the episodes named
// (what a resolution depends on), in claim order.
func (t *LedgerTx) Firings(fps []string, since time.Time, episodes []time.Time) ([]Notification, error) {
	var out []Notification
	eps := make([]any, len(episodes))
	for i, e := range episodes {
		eps[i] = e.UnixMicro()
	}
	cond := "created_at >= ?"
	if len(eps) > 0 {
		cond = "(created_at >= ? OR episode IN (" + placeholders(len(eps)) + "))"
	}
	err := inChunks(fps, func(chunk []string) error {
		args := make([]any, 0, len(chunk)+1+len(eps))
		for _, fp := range chunk {
			args = append(args, fp)
		}
		args = append(append(args, since.UnixMicro()), eps...)
		rows, err := t.tx.QueryContext(t.ctx, t.s.d.rebind("SELECT "+notificationCols+
			" FROM notifications WHERE transition = 'firing' AND fingerprint IN ("+placeholders(len(chunk))+
			") AND "+cond+" ORDER BY id"), args...)
		if err != nil {
			return err
		}
		ns, err := collect(rows, scanNotification)
		out = append(out, ns...)
		return err
	})
	return out, err
}

// Claim inserts the claims and returns the ones this transaction made, with
// their ids: a claim whose (fingerprint, episode, transition, channel) is
// in the ledger already (decided earlier, or by another receiver) is left
// out. A claim made suppressed is final at once and gets its history entry.
// The claims are inserted in key order, so receivers claiming overlapping
// sets on PostgreSQL wait for each other instead of deadlocking.
func (t *LedgerTx) Claim(ns []Notification) ([]Notification, error) {
	ns = slices.Clone(ns)
	slices.SortFunc(ns, func(a, b Notification) int {
		return cmp.Or(cmp.Compare(a.Fingerprint, b.Fingerprint), a.Episode.Compare(b.Episode),
			cmp.Compare(a.Transition, b.Transition), cmp.Compare(a.ChannelID, b.ChannelID))
	})
	stmt, err := t.tx.PrepareContext(t.ctx, t.s.d.rebind(`INSERT INTO notifications (fingerprint, episode,
		transition, channel_id, receiver, group_key, status, reason, peer, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (fingerprint, episode, transition, channel_id) DO NOTHING RETURNING id`))
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	now := t.now.UnixMicro()
	var out, final []Notification
	for _, n := range ns {
		if n.Status == "" {
			n.Status = NotificationPending
		}
		err := stmt.QueryRowContext(t.ctx, n.Fingerprint, n.Episode.UnixMicro(), n.Transition, n.ChannelID,
			n.Receiver, n.GroupKey, n.Status, n.Reason, n.Peer, now, now).Scan(&n.ID)
		switch {
		case err == sql.ErrNoRows:
			continue
		case err != nil:
			return nil, err
		}
		n.CreatedAt, n.UpdatedAt = t.now, t.now
		out = append(out, n)
		if n.Status != NotificationPending {
			final = append(final, n)
		}
	}
	return out, t.s.addOutcomes(t.ctx, t.tx, final, outcome{at: t.now, attempt: 1})
}

// Enqueue writes the outbox item that carries the claims ids (made by
// Claim in this transaction) and links them to it.
func (t *LedgerTx) Enqueue(o OutboxItem, ids []int64) (OutboxItem, error) {
	if len(ids) == 0 {
		return o, fmt.Errorf("store: an outbox item must carry at least one claim")
	}
	if o.IdempotencyKey == "" {
		o.IdempotencyKey = fmt.Sprintf("claim:%d", ids[0])
	}
	out, created, err := t.s.enqueue(t.ctx, t.tx, o)
	if err != nil {
		return out, err
	}
	if !created {
		return out, fmt.Errorf("%w: outbox key %s is taken", ErrConflict, o.IdempotencyKey)
	}
	return out, inChunks(ids, func(chunk []int64) error {
		args := []any{out.ID, t.now.UnixMicro()}
		for _, id := range chunk {
			args = append(args, id)
		}
		_, err := t.tx.ExecContext(t.ctx, t.s.d.rebind("UPDATE notifications SET outbox_id = ?, updated_at = ? WHERE id IN ("+
			placeholders(len(chunk))+")"), args...)
		return err
	})
}

// outcome is what happened to the claims of one outbox item (or to
// claims made suppressed).
type outcome struct {
	status, reason string
	at             time.Time
	attempt        int
}

// finishClaims gives the pending claims of outbox item id their outcome
// and writes their history entries.
func (s *Store) finishClaims(ctx context.Context, tx *sql.Tx, id int64, o outcome) error {
	rows, err := tx.QueryContext(ctx, s.d.rebind("SELECT "+notificationCols+
		" FROM notifications WHERE outbox_id = ? AND status = 'pending'"), id)
	if err != nil {
		return err
	}
	ns, err := collect(rows, scanNotification)
	if err != nil || len(ns) == 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE notifications SET status = ?, reason = ?, updated_at = ?
		WHERE outbox_id = ? AND status = 'pending'`), o.status, o.reason, o.at.UnixMicro(), id); err != nil {
		return err
	}
	for i := range ns {
		ns[i].Status, ns[i].Reason = o.status, o.reason
	}
	return s.addOutcomes(ctx, tx, ns, o)
}

// addOutcomes writes one history entry per final claim, linked to the
// alert by fingerprint and to the channel if it still exists.
func (s *Store) addOutcomes(ctx context.Context, tx *sql.Tx, ns []Notification, o outcome) error {
	if len(ns) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, s.d.rebind(`INSERT INTO alert_history (alert_id, channel_id,
		triggered_at, payload, status, error, attempt, fingerprint, transition, episode, outbox_id, peer)
		VALUES ((SELECT id FROM alerts WHERE fingerprint = ?), (SELECT id FROM alert_channels WHERE id = ?),
		?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, n := range ns {
		payload, err := json.Marshal(map[string]any{
			"outbox_id": n.OutboxID, "receiver": n.Receiver, "groupKey": n.GroupKey, "fingerprint": n.Fingerprint,
			"transition": n.Transition, "startsAt": n.Episode.Format(time.RFC3339Nano), "notification_id": n.ID,
		})
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, n.Fingerprint, n.ChannelID, o.at.UnixMicro(), string(payload), n.Status,
			n.Reason, max(o.attempt, 1), n.Fingerprint, n.Transition, n.Episode.UnixMicro(), nullID(n.OutboxID), n.Peer); err != nil {
			return err
		}
	}
	return nil
}

// OpenAlert is an alert the receiver must hold after a restart: firing,
// or with a state change no claim decided yet. Episodes are the earlier
// episodes of the alert notified as firing whose resolution is not yet
// claimed on some channel.
type OpenAlert struct {
	Alert
	Episodes []time.Time
}

// LedgerRetention is how long decided claims are kept (PruneLedger's
// horizon in the daemon): far beyond any cooldown, and the span within
// which a restart reconsiders resolved alerts.
const LedgerRetention = 7 * 24 * time.Hour

// OpenAlerts returns what the dispatcher rebuilds its groups from, for
// alert rows updated since since (zero: all): rows still firing, rows
// resolved within LedgerRetention/2 whose episode's resolution no claim
// decided, and every episode notified as firing whose resolution is
// unclaimed on a channel. Of the alerts held (nil: none) only the
// fingerprint, the start and the episodes are read: the dispatcher has the rest, and
// reading every label and annotation of every alert each resync would
// cost what the alerts take, again and again.
func (s *Store) OpenAlerts(ctx context.Context, since time.Time, held func(fp string) bool) (out []OpenAlert, err error) {
	defer s.op("open_alerts", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, err
	}
	horizon := nowUTC().Add(-LedgerRetention / 2)
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT a.fingerprint, a.starts_at FROM alerts a WHERE a.starts_at IS NOT NULL
		AND a.updated_at >= ? AND (a.resolved_at IS NULL OR a.resolved_at >= ? AND NOT EXISTS (SELECT 1
		FROM notifications n WHERE n.fingerprint = a.fingerprint AND n.episode = a.starts_at
		AND n.transition = 'resolved'))`), since.UnixMicro(), horizon.UnixMicro())
	if err != nil {
		return nil, err
	}
	// Of a held alert, its row's fingerprint and start: the episodes below
	// are the others.
	keys, err := collect(rows, func(sc interface{ Scan(...any) error }) (a Alert, err error) {
		var start sql.NullInt64
		err = sc.Scan(&a.Fingerprint, &start)
		a.StartsAt = goTime(start)
		return a, err
	})
	if err != nil {
		return nil, err
	}
	byFP := make(map[string]int, len(keys))
	var missing []string
	for _, a := range keys {
		if held != nil && held(a.Fingerprint) {
			byFP[a.Fingerprint] = len(out)
			out = append(out, OpenAlert{Alert: a})
		} else {
			missing = append(missing, a.Fingerprint)
		}
	}
	if err := s.addAlertsByFingerprint(ctx, missing, byFP, &out); err != nil {
		return nil, err
	}
	rows, err = s.r.QueryContext(ctx, s.d.rebind(`SELECT DISTINCT n.fingerprint, n.episode FROM notifications n
		WHERE n.transition = 'firing' AND n.created_at >= ? AND NOT EXISTS (SELECT 1 FROM notifications r
		WHERE r.fingerprint = n.fingerprint AND r.episode = n.episode AND r.transition = 'resolved'
		AND r.channel_id = n.channel_id) ORDER BY n.fingerprint, n.episode`), since.UnixMicro())
	if err != nil {
		return nil, err
	}
	type open struct {
		fp      string
		episode int64
	}
	eps, err := collect(rows, func(sc interface{ Scan(...any) error }) (open, error) {
		var o open
		return o, sc.Scan(&o.fp, &o.episode)
	})
	if err != nil {
		return nil, err
	}
	// The rows of these episodes' alerts, updated before since, are read
	// whole: there are few, and their start tells the episodes apart.
	missing = missing[:0]
	for _, e := range eps {
		if _, ok := byFP[e.fp]; !ok {
			missing = append(missing, e.fp)
			byFP[e.fp] = -1
		}
	}
	if err := s.addAlertsByFingerprint(ctx, missing, byFP, &out); err != nil {
		return nil, err
	}
	for _, e := range eps {
		i := byFP[e.fp]
		if i < 0 {
			continue // the alert row is gone (pruned by hand): nothing to rebuild it from
		}
		if t := time.UnixMicro(e.episode).UTC(); !t.Equal(out[i].StartsAt) {
			out[i].Episodes = append(out[i].Episodes, t)
		}
	}
	return out, nil
}

func (s *Store) addAlertsByFingerprint(ctx context.Context, fps []string, byFP map[string]int, out *[]OpenAlert) error {
	return inChunks(fps, func(chunk []string) error {
		args := make([]any, len(chunk))
		for i, fp := range chunk {
			args[i] = fp
		}
		rows, err := s.r.QueryContext(ctx, s.d.rebind("SELECT "+alertCols+" FROM alerts WHERE fingerprint IN ("+
			placeholders(len(chunk))+")"), args...)
		if err != nil {
			return err
		}
		as, err := collect(rows, scanAlert)
		for _, a := range as {
			byFP[a.Fingerprint] = len(*out)
			*out = append(*out, OpenAlert{Alert: a})
		}
		return err
	})
}

// LedgerFilter selects claims; zero fields do not filter.
type LedgerFilter struct {
	Fingerprint string
	OutboxID    int64
	Status      string
	Limit       int // default 100, max 1000
	Offset      int
}

// ListNotifications returns one page of claims, newest first, and the
// total matching count.
func (s *Store) ListNotifications(ctx context.Context, f LedgerFilter) (items []Notification, total int, err error) {
	defer s.op("list_notifications", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, 0, err
	}
	var w where
	if f.Fingerprint != "" {
		w.add("fingerprint = ?", f.Fingerprint)
	}
	if f.OutboxID != 0 {
		w.add("outbox_id = ?", f.OutboxID)
	}
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	return listPage(ctx, s, "notifications", notificationCols, "id DESC", &w, f.Limit, f.Offset, scanNotification)
}

// PendingNotifications counts claims waiting for an outcome.
func (s *Store) PendingNotifications(ctx context.Context) (n int, err error) {
	defer s.op("pending_notifications", &err)()
	if err = s.checkOpen(); err != nil {
		return 0, err
	}
	err = s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM notifications WHERE status = 'pending'").Scan(&n)
	return n, err
}

// PruneLedger deletes claims decided before olderThan that nothing needs
// any more: repeats, and both claims of an episode whose firing and
// resolution are decided on a channel. The firing claim of an open
// episode stays however old: it is what a restart resolves. It returns
// how many it deleted.
func (s *Store) PruneLedger(ctx context.Context, olderThan time.Time) (n int64, err error) {
	defer s.op("prune_ledger", &err)()
	if err = s.checkOpen(); err != nil {
		return 0, err
	}
	t := olderThan.UnixMicro()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, q := range []struct {
			sql  string
			args []any
		}{
			// Firing claims first, while their resolutions still prove the
			// episode closed; then the resolutions and repeats left.
			{`DELETE FROM notifications WHERE transition = 'firing' AND status <> 'pending' AND created_at < ?
				AND EXISTS (SELECT 1 FROM notifications r WHERE r.fingerprint = notifications.fingerprint
				AND r.episode = notifications.episode AND r.transition = 'resolved'
				AND r.channel_id = notifications.channel_id AND r.status <> 'pending' AND r.created_at < ?)`, []any{t, t}},
			{`DELETE FROM notifications WHERE transition <> 'firing' AND status <> 'pending' AND created_at < ?
				AND NOT EXISTS (SELECT 1 FROM notifications f WHERE f.fingerprint = notifications.fingerprint
				AND f.episode = notifications.episode AND f.transition = 'firing'
				AND f.channel_id = notifications.channel_id)`, []any{t}},
		} {
			res, err := tx.ExecContext(ctx, s.d.rebind(q.sql), q.args...)
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	return n, err
}
