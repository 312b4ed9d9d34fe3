package store

import (
	"context"
	"time"
)

// Peer is a receiver using the store: its name (host:port) and when it
// started and was last seen alive.
type Peer struct {
	Name      string
	StartedAt time.Time
	SeenAt    time.Time
}

// Heartbeat records that p is alive at p.SeenAt.
func (s *Store) Heartbeat(ctx context.Context, p Peer) (err error) {
	defer s.op("heartbeat", &err)()
	if err = s.checkOpen(); err != nil {
		return err
	}
	_, err = s.w.ExecContext(ctx, s.d.rebind(`INSERT INTO receiver_peers (name, started_at, seen_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET started_at = excluded.started_at, seen_at = excluded.seen_at`),
		p.Name, p.StartedAt.UnixMicro(), p.SeenAt.UnixMicro())
	return err
}

// Peers lists the receivers seen at or after since, by name. Rows of
// receivers gone for a day are removed on the way, so the table stays as
// small as the fleet.
func (s *Store) Peers(ctx context.Context, since time.Time) (out []Peer, err error) {
	defer s.op("peers", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, err
	}
	if _, err = s.w.ExecContext(ctx, s.d.rebind(`DELETE FROM receiver_peers WHERE seen_at < ?`),
		since.Add(-24*time.Hour).UnixMicro()); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT name, started_at, seen_at FROM receiver_peers
		WHERE seen_at >= ? ORDER BY name`), since.UnixMicro())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var p Peer
		var started, seen int64
		if err := rows.Scan(&p.Name, &started, &seen); err != nil {
			return nil, err
		}
		p.StartedAt, p.SeenAt = time.UnixMicro(started).UTC(), time.UnixMicro(seen).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}
