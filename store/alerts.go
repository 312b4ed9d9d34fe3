package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Alert statuses.
const (
	StatusActive       = "active"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
	StatusDismissed    = "dismissed"
)

// Severities counted by AlertStats.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Alert is one row of alerts. Zero times mean NULL (unset).
type Alert struct {
	ID          int64
	Fingerprint string
	Type        string
	Severity    string
	Status      string
	Title       string
	Message     string
	RelatedID   string
	RelatedType string
	RelatedName string
	Labels      map[string]string
	// Metadata is text, as ez-api's: the evaluator writes a JSON object
	// (value, threshold, window, level), a client of the admin API any
	// string.
	Metadata   string
	AckedAt    time.Time
	AckedBy    string
	ResolvedAt time.Time
	ExpiresAt  time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// StartsAt is the start of the alert's current episode as the receiver
	// assigned it, Annotations and GeneratorURL what it was last posted
	// with: what a receiver needs to rebuild its groups after a restart.
	StartsAt     time.Time
	Annotations  map[string]string
	GeneratorURL string
}

const alertCols = `id, fingerprint, type, severity, status, title, message, related_id, related_type,
	related_name, labels, metadata, acked_at, acked_by, resolved_at, expires_at, created_at, updated_at,
	starts_at, annotations, generator_url`

func scanAlert(sc interface{ Scan(...any) error }) (Alert, error) {
	var a Alert
	var relID, relType, relName, ackedBy, meta, ann, url sql.NullString
	var labels string
	var acked, resolved, expires, created, updated, starts sql.NullInt64
	err := sc.Scan(&a.ID, &a.Fingerprint, &a.Type, &a.Severity, &a.Status, &a.Title, &a.Message,
		&relID, &relType, &relName, &labels, &meta, &acked, &ackedBy, &resolved, &expires, &created, &updated,
		&starts, &ann, &url)
	if err != nil {
		return a, err
	}
	a.RelatedID, a.RelatedType, a.RelatedName, a.AckedBy = relID.String, relType.String, relName.String, ackedBy.String
	a.GeneratorURL = url.String
	a.Metadata = meta.String
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return a, fmt.Errorf("alert %d labels: %w", a.ID, err)
	}
	if ann.Valid && ann.String != "" {
		if err := json.Unmarshal([]byte(ann.String), &a.Annotations); err != nil {
			return a, fmt.Errorf("alert %d annotations: %w", a.ID, err)
		}
	}
	a.AckedAt, a.ResolvedAt, a.ExpiresAt = goTime(acked), goTime(resolved), goTime(expires)
	a.CreatedAt, a.UpdatedAt, a.StartsAt = goTime(created), goTime(updated), goTime(starts)
	return a, nil
}

// upsertAlertSQL inserts a new alert or updates the one with the same
// fingerprint in a single statement, so concurrent upserts never duplicate.
//
// The incoming status is active (firing) or resolved. Lifecycle rule, with
// "old" the stored row:
//   - resolved in: old active/acknowledged/resolved become resolved
//     (resolved_at kept if already set); a dismissed alert stays dismissed
//     but records resolved_at, remembering that it ended.
//   - firing in: a dismissed alert stays dismissed (hidden) while it keeps
//     firing; it becomes active again only if it re-fires after having been
//     resolved (resolved_at set). An acknowledged alert stays acknowledged
//     unless its severity changed. A resolved alert re-fires as active.
//     Becoming active again clears resolved_at and the acknowledgement.
//
// Content columns (title, severity, labels, …) always take the new values;
// created_at is the first sighting. SET expressions see the old row in both
// SQLite and PostgreSQL, which the CASEs rely on.
const upsertAlertSQL = `INSERT INTO alerts (fingerprint, type, severity, status, title, message, related_id,
	related_type, related_name, labels, metadata, resolved_at, expires_at, created_at, updated_at,
	starts_at, annotations, generator_url)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (fingerprint) DO UPDATE SET
	status = ` + newStatusExpr + `,
	acked_at = CASE WHEN ` + newStatusExpr + ` = 'active' AND alerts.status <> 'active' THEN NULL ELSE alerts.acked_at END,
	acked_by = CASE WHEN ` + newStatusExpr + ` = 'active' AND alerts.status <> 'active' THEN NULL ELSE alerts.acked_by END,
	resolved_at = CASE WHEN excluded.status = 'resolved' THEN COALESCE(alerts.resolved_at, excluded.resolved_at) ELSE NULL END,
	type = excluded.type, severity = excluded.severity, title = excluded.title, message = excluded.message,
	related_id = excluded.related_id, related_type = excluded.related_type, related_name = excluded.related_name,
	labels = excluded.labels, metadata = excluded.metadata, expires_at = excluded.expires_at,
	updated_at = excluded.updated_at, starts_at = COALESCE(excluded.starts_at, alerts.starts_at),
	annotations = COALESCE(excluded.annotations, alerts.annotations),
	generator_url = COALESCE(excluded.generator_url, alerts.generator_url)
RETURNING ` + alertCols

const newStatusExpr = `(CASE
	WHEN excluded.status = 'resolved' THEN CASE WHEN alerts.status = 'dismissed' THEN 'dismissed' ELSE 'resolved' END
	WHEN alerts.status = 'dismissed' AND alerts.resolved_at IS NULL THEN 'dismissed'
	WHEN alerts.status = 'acknowledged' AND alerts.severity = excluded.severity THEN 'acknowledged'
	ELSE 'active' END)`

func upsertArgs(a *Alert, now time.Time) ([]any, error) {
	if a.Fingerprint == "" {
		return nil, fmt.Errorf("store: alert without fingerprint")
	}
	status := a.Status
	switch status {
	case "", StatusActive:
		status = StatusActive
	case StatusResolved:
	default:
		return nil, fmt.Errorf("store: upsert status must be active or resolved, not %q", a.Status)
	}
	resolvedAt := a.ResolvedAt
	if status == StatusResolved && resolvedAt.IsZero() {
		resolvedAt = now
	}
	labels := a.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	lj, err := json.Marshal(labels)
	if err != nil {
		return nil, err
	}
	meta := nullStr(a.Metadata)
	created := a.CreatedAt
	if created.IsZero() {
		created = now
	}
	var ann any
	if a.Annotations != nil {
		b, err := json.Marshal(a.Annotations)
		if err != nil {
			return nil, err
		}
		ann = string(b)
	}
	return []any{a.Fingerprint, a.Type, a.Severity, status, a.Title, a.Message, nullStr(a.RelatedID),
		nullStr(a.RelatedType), nullStr(a.RelatedName), string(lj), meta, dbTime(resolvedAt),
		dbTime(a.ExpiresAt), dbTime(created), dbTime(now), dbTime(a.StartsAt), ann, nullStr(a.GeneratorURL)}, nil
}

// UpsertAlert inserts or updates the alert with a.Fingerprint (see
// upsertAlertSQL for the lifecycle rule) and returns the stored row.
// a.Status must be "" / active (firing) or resolved.
func (s *Store) UpsertAlert(ctx context.Context, a Alert) (out Alert, err error) {
	defer s.op("upsert_alert", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	args, err := upsertArgs(&a, nowUTC())
	if err != nil {
		return out, err
	}
	return scanAlert(s.w.QueryRowContext(ctx, s.d.rebind(upsertAlertSQL), args...))
}

// UpsertAlerts upserts a batch in one transaction: all or nothing, and one
// fsync for the batch instead of one per alert. The rows are written in
// fingerprint order, so two receivers upserting overlapping batches on
// PostgreSQL lock them in the same order and never deadlock.
func (s *Store) UpsertAlerts(ctx context.Context, as []Alert) (err error) {
	defer s.op("upsert_alerts", &err)()
	if err = s.checkOpen(); err != nil {
		return err
	}
	now := nowUTC()
	as = slices.Clone(as)
	slices.SortFunc(as, func(a, b Alert) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.upsertIn(ctx, tx, as, now) })
}

func (s *Store) upsertIn(ctx context.Context, tx *sql.Tx, as []Alert, now time.Time) error {
	if len(as) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, s.d.rebind(upsertAlertSQL))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := range as {
		args, err := upsertArgs(&as[i], now)
		if err != nil {
			return err
		}
		// Query, not Exec: RETURNING rows must be drained on both drivers.
		rows, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

// GetAlert returns the alert or ErrNotFound.
func (s *Store) GetAlert(ctx context.Context, id int64) (a Alert, err error) {
	defer s.op("get_alert", &err)()
	if err = s.checkOpen(); err != nil {
		return a, err
	}
	return scanAlert(s.r.QueryRowContext(ctx, s.d.rebind("SELECT "+alertCols+" FROM alerts WHERE id = ?"), id))
}

// AlertFilter selects alerts; empty fields do not filter.
type AlertFilter struct {
	Status   string
	Severity string
	Type     string
	// IncludeDismissed lists dismissed alerts too; filtering on
	// Status "dismissed" implies it.
	IncludeDismissed bool
	Limit            int // default 50, max 1000
	Offset           int
}

// ListAlerts returns one page, newest first, and the total matching count.
func (s *Store) ListAlerts(ctx context.Context, f AlertFilter) (items []Alert, total int, err error) {
	defer s.op("list_alerts", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, 0, err
	}
	var w where
	if f.Status != "" {
		w.add("status = ?", f.Status)
	} else if !f.IncludeDismissed {
		w.add("status <> 'dismissed'")
	}
	if f.Severity != "" {
		w.add("severity = ?", f.Severity)
	}
	if f.Type != "" {
		w.add("type = ?", f.Type)
	}
	limit, offset := page(f.Limit, f.Offset, 50, 1000)
	if err = s.r.QueryRowContext(ctx, s.d.rebind("SELECT COUNT(*) FROM alerts"+w.String()), w.args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if total == 0 || offset >= total {
		return []Alert{}, total, nil
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind("SELECT "+alertCols+" FROM alerts"+w.String()+
		" ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"), append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	items, err = collect(rows, scanAlert)
	return items, total, err
}

// collect scans every row and closes rows.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// transition moves an alert to a new state only if its current status is
// one of from. The conditional UPDATE is the arbiter between concurrent
// callers: exactly one of two racing acks matches status = 'active'.
func (s *Store) transition(ctx context.Context, id int64, set string, from []string, args ...any) (Alert, error) {
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ")
	q := "UPDATE alerts SET " + set + " WHERE id = ? AND status IN (" + ph + ") RETURNING " + alertCols
	all := append(append(args, id), toAny(from)...)
	a, err := scanAlert(s.w.QueryRowContext(ctx, s.d.rebind(q), all...))
	if err != sql.ErrNoRows {
		return a, err
	}
	var status string
	err = s.r.QueryRowContext(ctx, s.d.rebind("SELECT status FROM alerts WHERE id = ?"), id).Scan(&status)
	if err == sql.ErrNoRows {
		return a, ErrNotFound
	} else if err != nil {
		return a, err
	}
	return a, fmt.Errorf("%w: alert %d is %s", ErrConflict, id, status)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// AckAlert acknowledges an active alert; any other status is ErrConflict.
func (s *Store) AckAlert(ctx context.Context, id int64, by string) (a Alert, err error) {
	defer s.op("ack_alert", &err)()
	if err = s.checkOpen(); err != nil {
		return a, err
	}
	now := nowUTC().UnixMicro()
	return s.transition(ctx, id, "status = 'acknowledged', acked_at = ?, acked_by = ?, updated_at = ?",
		[]string{StatusActive}, now, by, now)
}

// ResolveAlert resolves an active or acknowledged alert.
func (s *Store) ResolveAlert(ctx context.Context, id int64) (a Alert, err error) {
	defer s.op("resolve_alert", &err)()
	if err = s.checkOpen(); err != nil {
		return a, err
	}
	now := nowUTC().UnixMicro()
	return s.transition(ctx, id, "status = 'resolved', resolved_at = ?, updated_at = ?",
		[]string{StatusActive, StatusAcknowledged}, now, now)
}

// DismissAlert hides an alert from the default list; dismissing twice is
// ErrConflict.
func (s *Store) DismissAlert(ctx context.Context, id int64) (a Alert, err error) {
	defer s.op("dismiss_alert", &err)()
	if err = s.checkOpen(); err != nil {
		return a, err
	}
	return s.transition(ctx, id, "status = 'dismissed', updated_at = ?",
		[]string{StatusActive, StatusAcknowledged, StatusResolved}, nowUTC().UnixMicro())
}

// ExpireAlerts resolves active and acknowledged alerts whose expires_at is
// at or before now, and returns how many it resolved.
func (s *Store) ExpireAlerts(ctx context.Context, now time.Time) (n int64, err error) {
	defer s.op("expire_alerts", &err)()
	if err = s.checkOpen(); err != nil {
		return 0, err
	}
	t := now.UnixMicro()
	res, err := s.exec(ctx, `UPDATE alerts SET status = 'resolved', resolved_at = expires_at, updated_at = ?
		WHERE status IN ('active', 'acknowledged') AND expires_at IS NOT NULL AND expires_at <= ?`, t, t)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// AlertStats are the admin API's counters, as ez-api counts them: Total
// every alert (dismissed too), the severities over active alerts only.
type AlertStats struct {
	Total, Active, Acknowledged, Resolved int64
	Critical, Warning, Info               int64
}

// AlertStats computes all counters with one query. Grouping by (status,
// severity) is answered from an index and yields at most a dozen rows to
// fold here, which is cheaper than evaluating seven CASEs per row.
func (s *Store) AlertStats(ctx context.Context) (st AlertStats, err error) {
	defer s.op("alert_stats", &err)()
	if err = s.checkOpen(); err != nil {
		return st, err
	}
	rows, err := s.r.QueryContext(ctx, "SELECT status, severity, COUNT(*) FROM alerts GROUP BY status, severity")
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var status, severity string
		var n int64
		if err := rows.Scan(&status, &severity, &n); err != nil {
			return st, err
		}
		switch status {
		case StatusActive:
			st.Active += n
			switch severity {
			case SeverityCritical:
				st.Critical += n
			case SeverityWarning:
				st.Warning += n
			case SeverityInfo:
				st.Info += n
			}
		case StatusAcknowledged:
			st.Acknowledged += n
		case StatusResolved:
			st.Resolved += n
		}
		st.Total += n
	}
	return st, rows.Err()
}
