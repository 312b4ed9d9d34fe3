package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Throttle states. The first three are active: a plugin instance has at
// most one active throttle, which the database enforces.
const (
	ThrottleThrottling = "throttling" // a gateway call setting a limit is in flight
	ThrottleThrottled  = "throttled"  // acknowledged and verified
	ThrottleReleasing  = "releasing"  // a gateway call restoring the limit is in flight
	ThrottleReleased   = "released"
	ThrottleFailed     = "failed"
)

// ThrottleActive reports whether state is one of the active states.
func ThrottleActive(state string) bool {
	return state == ThrottleThrottling || state == ThrottleThrottled || state == ThrottleReleasing
}

// Throttle is one throttle decision on a plugin instance and where it
// stands. Op, OpKey and OpLimit describe its latest gateway call; they are
// stored before the call so a restart repeats it with the same key.
type Throttle struct {
	ID                     int64
	TenantID               string
	PluginID               string
	InstanceID             string
	State                  string
	MaxConcurrency         int // in force once acknowledged
	PreviousMaxConcurrency int // what a release restores
	Step                   int
	Reason                 string
	Actor                  string // "auto" or the user who decided
	Op                     string // apply, renew, step, release
	OpKey                  string // the Idempotency-Key of that call
	OpLimit                int    // the limit that call sets
	DecidedAt              time.Time
	AppliedAt              time.Time
	ExpiresAt              time.Time
	LowSince               time.Time // recovery seen since: the stable window's start
	ReleasedAt             time.Time
	ReleaseReason          string
	ReleasedBy             string
	LastError              string
	FalsePositive          bool
	FeedbackBy             string
	FeedbackAt             time.Time
	UpdatedAt              time.Time
}

const throttleCols = `id, tenant_id, plugin_id, instance_id, state, max_concurrency, previous_max_concurrency,
	step, reason, actor, op, op_key, op_limit, decided_at, applied_at, expires_at, low_since, released_at,
	release_reason, released_by, last_error, false_positive, feedback_by, feedback_at, updated_at`

func scanThrottle(sc interface{ Scan(...any) error }) (Throttle, error) {
	var t Throttle
	var decided, applied, expires, low, released, feedback, updated sql.NullInt64
	err := sc.Scan(&t.ID, &t.TenantID, &t.PluginID, &t.InstanceID, &t.State, &t.MaxConcurrency,
		&t.PreviousMaxConcurrency, &t.Step, &t.Reason, &t.Actor, &t.Op, &t.OpKey, &t.OpLimit, &decided,
		&applied, &expires, &low, &released, &t.ReleaseReason, &t.ReleasedBy, &t.LastError, &t.FalsePositive,
		&t.FeedbackBy, &feedback, &updated)
	t.DecidedAt, t.AppliedAt, t.ExpiresAt, t.LowSince = goTime(decided), goTime(applied), goTime(expires), goTime(low)
	t.ReleasedAt, t.FeedbackAt, t.UpdatedAt = goTime(released), goTime(feedback), goTime(updated)
	return t, err
}

func (t *Throttle) check() error {
	switch {
	case t.TenantID == "" || t.PluginID == "" || t.InstanceID == "":
		return fmt.Errorf("%w: a throttle needs tenant_id, plugin_id and instance_id", ErrInvalid)
	case t.Op == "" || t.OpKey == "":
		return fmt.Errorf("%w: a throttle needs its operation and idempotency key", ErrInvalid)
	case t.State != ThrottleFailed && t.State != ThrottleReleased && !ThrottleActive(t.State):
		return fmt.Errorf("%w: unknown throttle state %q", ErrInvalid, t.State)
	}
	return nil
}

// CreateThrottle stores a new decision and returns it with its id. A second
// active throttle for the same instance, or a reused key, is ErrConflict:
// whoever inserted first owns the instance.
func (s *Store) CreateThrottle(ctx context.Context, t Throttle) (out Throttle, err error) {
	defer s.op("create_throttle", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	if err = t.check(); err != nil {
		return out, err
	}
	if t.DecidedAt.IsZero() {
		t.DecidedAt = nowUTC()
	}
	if t.Actor == "" {
		t.Actor = "auto"
	}
	if t.Step <= 0 {
		t.Step = 1
	}
	return scanThrottle(s.w.QueryRowContext(ctx, s.d.rebind(`INSERT INTO throttles (tenant_id, plugin_id,
		instance_id, state, max_concurrency, previous_max_concurrency, step, reason, actor, op, op_key, op_limit,
		decided_at, applied_at, expires_at, low_since, released_at, release_reason, released_by, last_error,
		updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+throttleCols),
		t.TenantID, t.PluginID, t.InstanceID, t.State, t.MaxConcurrency, t.PreviousMaxConcurrency, t.Step,
		t.Reason, t.Actor, t.Op, t.OpKey, t.OpLimit, dbTime(t.DecidedAt), dbTime(t.AppliedAt), dbTime(t.ExpiresAt),
		dbTime(t.LowSince), dbTime(t.ReleasedAt), t.ReleaseReason, t.ReleasedBy, t.LastError, nowUTC().UnixMicro()))
}

// UpdateThrottle writes t's state and operation fields (everything but the
// instance, the decision time and the feedback, which SetThrottleFeedback
// owns). With from set, the row must still be in state from, else
// ErrConflict: another process moved it on meanwhile.
func (s *Store) UpdateThrottle(ctx context.Context, t Throttle, from string) (out Throttle, err error) {
	defer s.op("update_throttle", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	if err = t.check(); err != nil {
		return out, err
	}
	q := `UPDATE throttles SET state = ?, max_concurrency = ?, previous_max_concurrency = ?, step = ?,
		reason = ?, op = ?, op_key = ?, op_limit = ?, applied_at = ?, expires_at = ?, low_since = ?,
		released_at = ?, release_reason = ?, released_by = ?, last_error = ?, updated_at = ? WHERE id = ?`
	args := []any{t.State, t.MaxConcurrency, t.PreviousMaxConcurrency, t.Step, t.Reason, t.Op, t.OpKey,
		t.OpLimit, dbTime(t.AppliedAt), dbTime(t.ExpiresAt), dbTime(t.LowSince), dbTime(t.ReleasedAt),
		t.ReleaseReason, t.ReleasedBy, t.LastError, nowUTC().UnixMicro(), t.ID}
	if from != "" {
		q += " AND state = ?"
		args = append(args, from)
	}
	out, err = scanThrottle(s.w.QueryRowContext(ctx, s.d.rebind(q+" RETURNING "+throttleCols), args...))
	if err != sql.ErrNoRows {
		return out, err
	}
	cur, err := s.GetThrottle(ctx, t.ID)
	if err != nil {
		return out, err
	}
	return out, fmt.Errorf("%w: throttle %d is %s, not %s", ErrConflict, t.ID, cur.State, from)
}

// GetThrottle returns one throttle or ErrNotFound.
func (s *Store) GetThrottle(ctx context.Context, id int64) (t Throttle, err error) {
	defer s.op("get_throttle", &err)()
	if err = s.checkOpen(); err != nil {
		return t, err
	}
	return scanThrottle(s.r.QueryRowContext(ctx, s.d.rebind("SELECT "+throttleCols+" FROM throttles WHERE id = ?"), id))
}

// ThrottleFilter selects throttles; zero fields do not filter. Since
// (inclusive) applies to the decision time.
type ThrottleFilter struct {
	Active                         bool
	TenantID, PluginID, InstanceID string
	Since                          time.Time
	Limit, Offset                  int // default 50, max 1000
}

// ListThrottles returns one page, newest decision first, and the total.
func (s *Store) ListThrottles(ctx context.Context, f ThrottleFilter) (items []Throttle, total int, err error) {
	defer s.op("list_throttles", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, 0, err
	}
	var w where
	if f.Active {
		w.add("state IN (?, ?, ?)", ThrottleThrottling, ThrottleThrottled, ThrottleReleasing)
	}
	// A fixed order, not a map's, keeps the placeholders in step with args.
	for _, c := range [...]struct{ col, v string }{{"tenant_id", f.TenantID}, {"plugin_id", f.PluginID}, {"instance_id", f.InstanceID}} {
		if c.v != "" {
			w.add(c.col+" = ?", c.v)
		}
	}
	if !f.Since.IsZero() {
		w.add("decided_at >= ?", f.Since.UnixMicro())
	}
	return listPage(ctx, s, "throttles", throttleCols, "decided_at DESC, id DESC", &w, f.Limit, f.Offset, scanThrottle)
}

// ListActiveThrottles returns every active throttle, oldest first: what a
// restarting controller takes over. There are at most as many as plugin
// instances, so no paging.
func (s *Store) ListActiveThrottles(ctx context.Context) (items []Throttle, err error) {
	defer s.op("list_active_throttles", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind("SELECT "+throttleCols+" FROM throttles WHERE state IN (?, ?, ?) ORDER BY id"),
		ThrottleThrottling, ThrottleThrottled, ThrottleReleasing)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanThrottle)
}

// SetThrottleFeedback marks (or unmarks) a decision as a false positive.
func (s *Store) SetThrottleFeedback(ctx context.Context, id int64, falsePositive bool, by string, at time.Time) (t Throttle, err error) {
	defer s.op("set_throttle_feedback", &err)()
	if err = s.checkOpen(); err != nil {
		return t, err
	}
	if at.IsZero() {
		at = nowUTC()
	}
	return scanThrottle(s.w.QueryRowContext(ctx, s.d.rebind(`UPDATE throttles SET false_positive = ?,
		feedback_by = ?, feedback_at = ?, updated_at = ? WHERE id = ? RETURNING `+throttleCols),
		falsePositive, by, dbTime(at), nowUTC().UnixMicro(), id))
}

// CountFalsePositives counts decisions marked false positive at or after
// since: the governance check's "in a day".
func (s *Store) CountFalsePositives(ctx context.Context, since time.Time) (n int, err error) {
	defer s.op("count_false_positives", &err)()
	if err = s.checkOpen(); err != nil {
		return 0, err
	}
	err = s.r.QueryRowContext(ctx, s.d.rebind("SELECT COUNT(*) FROM throttles WHERE false_positive = ? AND feedback_at >= ?"),
		true, since.UnixMicro()).Scan(&n)
	return n, err
}

// ThrottlePolicy is the throttle policy as last saved at run time: JSON in
// the config's schema, so the file's validation applies to it.
type ThrottlePolicy struct {
	Policy    json.RawMessage
	UpdatedBy string
	UpdatedAt time.Time
}

// PutThrottlePolicy saves the run-time policy, replacing the previous one.
func (s *Store) PutThrottlePolicy(ctx context.Context, p ThrottlePolicy) (out ThrottlePolicy, err error) {
	defer s.op("put_throttle_policy", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	if len(p.Policy) == 0 || !json.Valid(p.Policy) {
		return out, fmt.Errorf("%w: the throttle policy must be a JSON document", ErrInvalid)
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = nowUTC()
	}
	var policy string
	var at sql.NullInt64
	err = s.w.QueryRowContext(ctx, s.d.rebind(`INSERT INTO throttle_policy (id, policy, updated_by, updated_at)
		VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET policy = excluded.policy,
		updated_by = excluded.updated_by, updated_at = excluded.updated_at
		RETURNING policy, updated_by, updated_at`), string(p.Policy), p.UpdatedBy, dbTime(p.UpdatedAt)).Scan(&policy, &out.UpdatedBy, &at)
	out.Policy, out.UpdatedAt = json.RawMessage(policy), goTime(at)
	return out, err
}

// GetThrottlePolicy returns the saved policy, ErrNotFound if none was saved
// (the config file's applies).
func (s *Store) GetThrottlePolicy(ctx context.Context) (p ThrottlePolicy, err error) {
	defer s.op("get_throttle_policy", &err)()
	if err = s.checkOpen(); err != nil {
		return p, err
	}
	var policy string
	var at sql.NullInt64
	err = s.r.QueryRowContext(ctx, "SELECT policy, updated_by, updated_at FROM throttle_policy WHERE id = 1").Scan(&policy, &p.UpdatedBy, &at)
	p.Policy, p.UpdatedAt = json.RawMessage(policy), goTime(at)
	return p, err
}

// DeleteThrottlePolicy forgets the saved policy, so the config file's
// applies again; ErrNotFound if none was saved.
func (s *Store) DeleteThrottlePolicy(ctx context.Context) (err error) {
	defer s.op("delete_throttle_policy", &err)()
	if err = s.checkOpen(); err != nil {
		return err
	}
	res, err := s.exec(ctx, "DELETE FROM throttle_policy WHERE id = 1")
	return affectedOne(res, err)
}

// ThrottleAutomation is the kill switch: whether the auto-throttle acts,
// who last changed that, and why.
type ThrottleAutomation struct {
	Enabled   bool
	Reason    string
	ChangedBy string
	ChangedAt time.Time
}

// PutThrottleAutomation saves the kill switch, replacing the previous
// setting.
func (s *Store) PutThrottleAutomation(ctx context.Context, a ThrottleAutomation) (out ThrottleAutomation, err error) {
	defer s.op("put_throttle_automation", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	if a.ChangedAt.IsZero() {
		a.ChangedAt = nowUTC()
	}
	var at sql.NullInt64
	err = s.w.QueryRowContext(ctx, s.d.rebind(`INSERT INTO throttle_automation (id, enabled, reason, changed_by, changed_at)
		VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, reason = excluded.reason,
		changed_by = excluded.changed_by, changed_at = excluded.changed_at
		RETURNING enabled, reason, changed_by, changed_at`), a.Enabled, a.Reason, a.ChangedBy, dbTime(a.ChangedAt)).Scan(&out.Enabled, &out.Reason, &out.ChangedBy, &at)
	out.ChangedAt = goTime(at)
	return out, err
}

// GetThrottleAutomation returns the saved kill switch, ErrNotFound if it
// was never set (the config file's default applies).
func (s *Store) GetThrottleAutomation(ctx context.Context) (a ThrottleAutomation, err error) {
	defer s.op("get_throttle_automation", &err)()
	if err = s.checkOpen(); err != nil {
		return a, err
	}
	var at sql.NullInt64
	err = s.r.QueryRowContext(ctx, "SELECT enabled, reason, changed_by, changed_at FROM throttle_automation WHERE id = 1").Scan(&a.Enabled, &a.Reason, &a.ChangedBy, &at)
	a.ChangedAt = goTime(at)
	return a, err
}

// GetThrottleByKey returns the decision whose latest gateway call carried
// key, ErrNotFound if none did.
func (s *Store) GetThrottleByKey(ctx context.Context, key string) (t Throttle, err error) {
	defer s.op("get_throttle_by_key", &err)()
	if err = s.checkOpen(); err != nil {
		return t, err
	}
	return scanThrottle(s.r.QueryRowContext(ctx, s.d.rebind("SELECT "+throttleCols+" FROM throttles WHERE op_key = ?"), key))
}
