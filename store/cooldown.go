package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
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

// CooldownClaim asks whether a notification for Key (alert identity and
// receiver, built by the caller) at Severity may be sent now. It is
// allowed when the key was never sent, was released, was last sent at
// least Interval ago (the boundary is allowed), or at another severity.
// Several receivers sharing a database never both get allowed for one key
// within the interval. An Interval <= 0 disables the cooldown; only a send
// recorded after now (by a receiver whose clock runs ahead) still holds
// the key.
type CooldownClaim struct {
	Key, Severity string
	Interval      time.Duration
}

// CooldownResult answers a CooldownClaim; an allowed claim records now as
// the key's send time. Last is the send time now stored for the key: now
// when allowed; when not, the earlier send that holds the cooldown, so the
// caller can report "suppressed: cooldown until Last+Interval".
type CooldownResult struct {
	Allowed bool
	Last    time.Time
}

// claimChunk bounds one transaction of ClaimCooldowns, so that a storm of
// new alerts does not hold SQLite's single writer for long.
const claimChunk = 1000

// ClaimCooldowns answers the claims in order (of two claims of one key,
// the second sees the first), in transactions
// of up to claimChunk: a group flushing thousands of new alerts costs a
// few commits, not one each. Within a transaction the keys are claimed in
// sorted order, so two receivers claiming overlapping keys on PostgreSQL
// lock them in the same order and cannot deadlock.
func (s *Store) ClaimCooldowns(ctx context.Context, claims []CooldownClaim, now time.Time) (res []CooldownResult, err error) {
	defer s.op("claim_cooldown", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, err
	}
	for _, c := range claims {
		if c.Key == "" {
			return nil, fmt.Errorf("%w: empty cooldown key", ErrInvalid)
		}
	}
	res = make([]CooldownResult, len(claims))
	order := make([]int, len(claims))
	for i := range order {
		order[i] = i
	}
	for start := 0; start < len(order); start += claimChunk {
		chunk := order[start:min(start+claimChunk, len(order))]
		slices.SortStableFunc(chunk, func(a, b int) int { return strings.Compare(claims[a].Key, claims[b].Key) })
		if err := s.inTx(ctx, func(tx *sql.Tx) error { return s.claimIn(ctx, tx, claims, chunk, now, res) }); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// claimIn makes the claims of indexes in one transaction. The refused
// claim does not say what blocked it, so it is read after; if a
// ReleaseCooldown or PruneCooldowns deleted the row in between, the claim
// is simply tried again (a release is rare, so is a retry).
func (s *Store) claimIn(ctx context.Context, tx *sql.Tx, claims []CooldownClaim, indexes []int, now time.Time, res []CooldownResult) error {
	claimStmt, err := tx.PrepareContext(ctx, s.d.rebind(claimCooldownSQL))
	if err != nil {
		return err
	}
	defer claimStmt.Close()
	readStmt, err := tx.PrepareContext(ctx, s.d.rebind("SELECT sent_at FROM cooldowns WHERE key = ?"))
	if err != nil {
		return err
	}
	defer readStmt.Close()
	t := now.UnixMicro()
	for _, i := range indexes {
		c := claims[i]
		threshold := t - max(c.Interval, 0).Microseconds()
		decided := false
		for try := 0; try < 3 && !decided; try++ {
			var sent int64
			switch err := claimStmt.QueryRowContext(ctx, c.Key, c.Severity, t, threshold).Scan(&sent); {
			case err == nil:
				res[i], decided = CooldownResult{true, time.UnixMicro(sent).UTC()}, true
				continue
			case err != sql.ErrNoRows:
				return err
			}
			switch err := readStmt.QueryRowContext(ctx, c.Key).Scan(&sent); {
			case err == nil:
				res[i], decided = CooldownResult{false, time.UnixMicro(sent).UTC()}, true
			case err != sql.ErrNoRows:
				return err
			}
		}
		if !decided {
			return fmt.Errorf("%w: cooldown %q kept changing under the claim", ErrConflict, c.Key)
		}
	}
	return nil
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
