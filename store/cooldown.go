package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// claimCooldownSQL records a send for a key unless one inside the interval
// holds it. The upsert is the arbiter: on PostgreSQL a second inserter of
// the same key waits on the primary key and then evaluates the WHERE
// against the row the first one committed; on SQLite writers are
// serialised. Either way exactly one concurrent claimer gets a row back.
// A different severity passes at once, so an escalation is not held back
// by the cooldown of the lower level.
const claimCooldownSQL = `INSERT INTO cooldowns (key, severity, sent_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET severity = excluded.severity, sent_at = excluded.sent_at
WHERE cooldowns.sent_at <= ? OR cooldowns.severity <> excluded.severity
RETURNING sent_at`

// ClaimCooldown decides whether a notification for key (alert identity and
// channel, built by the caller) at severity may be sent at now, and if so
// records now as its send time. It is allowed when the key was never sent,
// was released, was last sent at least interval ago (the boundary is
// allowed), or at another severity. Several receivers sharing a database
// never both get allowed for one key within the interval.
//
// last is the send time now stored for key: now when allowed; when not,
// the earlier send that holds the cooldown, so the caller can report
// "suppressed: cooldown until last+interval". An interval <= 0 disables
// the cooldown; only a send recorded after now (by a receiver whose clock
// runs ahead) still holds the key.
func (s *Store) ClaimCooldown(ctx context.Context, key, severity string, interval time.Duration, now time.Time) (allowed bool, last time.Time, err error) {
	defer s.op("claim_cooldown", &err)()
	if err = s.checkOpen(); err != nil {
		return false, last, err
	}
	if key == "" {
		return false, last, fmt.Errorf("%w: empty cooldown key", ErrInvalid)
	}
	t := now.UnixMicro()
	threshold := t - max(interval, 0).Microseconds()
	// The refused claim does not say what blocked it, so it is read after;
	// if a ReleaseCooldown or PruneCooldowns deleted the row in between,
	// the claim is simply tried again (a release is rare, so is a retry).
	for range 3 {
		var sent int64
		err = s.w.QueryRowContext(ctx, s.d.rebind(claimCooldownSQL), key, severity, t, threshold).Scan(&sent)
		if err == nil {
			return true, time.UnixMicro(sent).UTC(), nil
		}
		if err != sql.ErrNoRows {
			return false, last, err
		}
		err = s.r.QueryRowContext(ctx, s.d.rebind("SELECT sent_at FROM cooldowns WHERE key = ?"), key).Scan(&sent)
		if err == nil {
			return false, time.UnixMicro(sent).UTC(), nil
		}
		if err != sql.ErrNoRows {
			return false, last, err
		}
	}
	return false, last, fmt.Errorf("%w: cooldown %q kept changing under the claim", ErrConflict, key)
}

// ReleaseCooldown forgets key, so its next claim is allowed at once (the
// receiver calls it when the alert resolves, so a re-fire notifies
// immediately). Releasing an unknown key is not an error: the alert may
// never have been sent, or its key was pruned.
func (s *Store) ReleaseCooldown(ctx context.Context, key string) (err error) {
	defer s.op("release_cooldown", &err)()
	if err = s.checkOpen(); err != nil {
		return err
	}
	_, err = s.exec(ctx, "DELETE FROM cooldowns WHERE key = ?", key)
	return err
}

// PruneCooldowns deletes keys last sent before olderThan (pass now minus
// the longest cooldown: such keys would allow a claim anyway) and returns
// how many it deleted. It scans the table, which has no index on sent_at
// on purpose: the table holds one row per alerting target and channel, and
// an index would cost every claim a second write to save a rare prune.
func (s *Store) PruneCooldowns(ctx context.Context, olderThan time.Time) (n int64, err error) {
	defer s.op("prune_cooldowns", &err)()
	if err = s.checkOpen(); err != nil {
		return 0, err
	}
	res, err := s.exec(ctx, "DELETE FROM cooldowns WHERE sent_at < ?", olderThan.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
