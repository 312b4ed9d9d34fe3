package store

import (
	"context"
	"database/sql"
	"time"
)

// StepRecord is where one target of a stepped rule stands: the period it
// is in and the steps announced in that period, with when.
type StepRecord struct {
	Period    string
	StartedAt time.Time
	Announced map[float64]time.Time
}

// StepRecords returns the records of every target of rule, by target.
func (s *Store) StepRecords(ctx context.Context, rule string) (out map[string]StepRecord, err error) {
	defer s.op("step_records", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(`SELECT p.target, p.period, p.started_at, a.step, a.announced_at
		FROM step_periods p LEFT JOIN steps_announced a ON a.rule = p.rule AND a.target = p.target
		AND a.started_at = p.started_at WHERE p.rule = ?`), rule)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out = map[string]StepRecord{}
	for rows.Next() {
		var target, period string
		var started int64
		var step sql.NullFloat64
		var at sql.NullInt64
		if err := rows.Scan(&target, &period, &started, &step, &at); err != nil {
			return nil, err
		}
		r, ok := out[target]
		if !ok {
			r = StepRecord{Period: period, StartedAt: time.UnixMicro(started).UTC(), Announced: map[float64]time.Time{}}
			out[target] = r
		}
		if step.Valid {
			r.Announced[step.Float64] = goTime(at)
		}
	}
	return out, rows.Err()
}

// StartStepPeriod records that target entered a new period at startedAt;
// the steps announced in earlier periods no longer count.
func (s *Store) StartStepPeriod(ctx context.Context, rule, target, period string, startedAt time.Time) (err error) {
	defer s.op("start_step_period", &err)()
	if err = s.checkOpen(); err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO step_periods (rule, target, period, started_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (rule, target) DO UPDATE SET period = excluded.period, started_at = excluded.started_at`,
		rule, target, period, startedAt.UnixMicro())
	return err
}

// AnnounceSteps records the steps (keys of alerts) as announced in
// target's period that began at startedAt, together with the alert row
// each announcement produces, in one transaction: a crash leaves both or
// neither. It returns when each step was announced: now for a new one
// (its row written), the earlier time for one already recorded, which the
// caller must not announce again.
func (s *Store) AnnounceSteps(ctx context.Context, rule, target string, startedAt time.Time, now time.Time,
	alerts map[float64]Alert) (announced map[float64]time.Time, err error) {
	defer s.op("announce_steps", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, err
	}
	at := now.UTC().Truncate(time.Microsecond)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		announced = make(map[float64]time.Time, len(alerts))
		var fresh []Alert
		for step, a := range alerts {
			if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO steps_announced (rule, target, started_at, step,
				announced_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (rule, target, started_at, step) DO NOTHING`),
				rule, target, startedAt.UnixMicro(), step, at.UnixMicro()); err != nil {
				return err
			}
			var t int64
			if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT announced_at FROM steps_announced
				WHERE rule = ? AND target = ? AND started_at = ? AND step = ?`), rule, target, startedAt.UnixMicro(), step).Scan(&t); err != nil {
				return err
			}
			announced[step] = time.UnixMicro(t).UTC()
			if t == at.UnixMicro() {
				fresh = append(fresh, a)
			}
		}
		return s.upsertIn(ctx, tx, fresh, nowUTC())
	})
	return announced, err
}
