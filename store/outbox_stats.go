package store

import (
	"context"
	"database/sql"
	"time"
)

// OutboxStats counts the items not yet delivered, for the worker's gauges
// and the console: pending (waiting or retrying), sending (claimed, or
// stuck if a worker died) and failed (given up). oldestPending is the
// creation time of the oldest pending item, zero when none is pending: how
// far delivery lags behind.
//
// One query, so the four numbers describe the same moment. The state
// condition keeps sent items, the bulk of the table, out of the scan.
func (s *Store) OutboxStats(ctx context.Context) (pending, sending, failed int, oldestPending time.Time, err error) {
	defer s.op("outbox_stats", &err)()
	if err = s.checkOpen(); err != nil {
		return 0, 0, 0, oldestPending, err
	}
	var oldest sql.NullInt64
	err = s.r.QueryRowContext(ctx, `SELECT
		COUNT(*) FILTER (WHERE state = 'pending'),
		COUNT(*) FILTER (WHERE state = 'sending'),
		COUNT(*) FILTER (WHERE state = 'failed'),
		MIN(created_at) FILTER (WHERE state = 'pending')
		FROM outbox WHERE state IN ('pending', 'sending', 'failed')`).Scan(&pending, &sending, &failed, &oldest)
	return pending, sending, failed, goTime(oldest), err
}

// OutboxFilter selects outbox items; zero fields do not filter.
type OutboxFilter struct {
	State     string
	ChannelID int64
	Limit     int // default 50, max 1000
	Offset    int
}

// ListOutbox returns one page, newest first, and the total matching count.
// Ids are insertion order, so ordering by id alone is newest first and is
// served by the primary key when nothing filters.
func (s *Store) ListOutbox(ctx context.Context, f OutboxFilter) (items []OutboxItem, total int, err error) {
	defer s.op("outbox_list", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, 0, err
	}
	var w where
	if f.State != "" {
		w.add("state = ?", f.State)
	}
	if f.ChannelID != 0 {
		w.add("channel_id = ?", f.ChannelID)
	}
	items, total, err = listPage(ctx, s, "outbox", outboxCols, "id DESC", &w, f.Limit, f.Offset, scanOutbox)
	return items, total, err
}
