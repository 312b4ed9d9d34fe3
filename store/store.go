// Package store is gatewarden's SQL persistence: alerts and their lifecycle,
// the notification outbox, delivery history, threshold overrides, throttle
// audit records and alert channels.
//
// One Store type serves two dialects. SQLite (pure Go, modernc.org/sqlite) is
// the embedded default; PostgreSQL (pgx/v5 through database/sql) is used when a
// database URL is given, so several receivers can share one store. The SQL is
// written once with `?` placeholders; the dialect only rewrites placeholders,
// supplies the id column type, row locking and the migration lock. Times are
// stored as unix microseconds (BIGINT) in both dialects so comparisons,
// ordering and round trips behave identically.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrNotFound: the addressed row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: the row exists but its state forbids the change (an ack of
	// a resolved alert, a duplicate unique key, a second claimer).
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable: the database cannot be reached or is closed; an API
	// should answer 503 and retry later.
	ErrUnavailable = errors.New("store: database unavailable")
)

// Options configures Open. DatabaseURL wins over Path.
type Options struct {
	// Path is the SQLite database file. A directory (or a path ending in a
	// separator) gets gatewarden.db inside it; empty means ./data/gatewarden.db.
	Path string
	// DatabaseURL (postgres:// or postgresql://) selects PostgreSQL.
	DatabaseURL string
	// BusyTimeout is how long SQLite waits for another process's lock.
	// Default 5s.
	BusyTimeout time.Duration
	Logger      *slog.Logger
	// Registerer receives the gatewarden_store_* metrics; nil disables them.
	Registerer prometheus.Registerer
}

// DefaultFile is the SQLite file name inside storage.path.
const DefaultFile = "gatewarden.db"

// Store is safe for concurrent use.
type Store struct {
	d      *dialect
	w      *sql.DB // writes; on SQLite a single connection so writes serialise
	r      *sql.DB // reads; the same pool as w on PostgreSQL
	log    *slog.Logger
	m      *metrics
	closed atomic.Bool
}

// Open connects, applies pending migrations and returns a ready Store.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: o.Logger}
	var err error
	if u := o.DatabaseURL; strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		s.d = postgresDialect
		s.w, err = sql.Open("pgx", u)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		s.w.SetMaxOpenConns(16)
		s.w.SetMaxIdleConns(4)
		s.w.SetConnMaxIdleTime(5 * time.Minute)
		s.r = s.w
	} else if u != "" {
		return nil, fmt.Errorf("store: database_url must start with postgres:// or postgresql://")
	} else if err = s.openSQLite(o); err != nil {
		return nil, err
	}
	s.m = newMetrics(o.Registerer, s.d.name)
	if err := s.ping(ctx, o.BusyTimeout); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("store: connect %s: %w", s.d.name, s.wrap(err))
	}
	if err := s.migrate(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	s.log.Info("store opened", "backend", s.d.name)
	return s, nil
}

// ping connects. SQLite's switch to WAL mode on a new file takes a lock
// that does not wait on busy_timeout, so a second process opening the same
// new file at the same moment gets SQLITE_BUSY at once: wait it out here.
func (s *Store) ping(ctx context.Context, busy time.Duration) error {
	if busy <= 0 {
		busy = 5 * time.Second
	}
	deadline := time.Now().Add(busy)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := s.w.PingContext(ctx)
		if err == nil || s.d != sqliteDialect || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func (s *Store) openSQLite(o Options) error {
	s.d = sqliteDialect
	path := o.Path
	if path == "" {
		path = "data"
	}
	if fi, err := os.Stat(path); (err == nil && fi.IsDir()) || strings.HasSuffix(path, string(filepath.Separator)) {
		path = filepath.Join(path, DefaultFile)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	busy := o.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// NORMAL is durable across application crashes in WAL mode; only an OS
	// crash can lose the last transactions, which the outbox tolerates.
	q.Add("_pragma", "synchronous(NORMAL)")
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	wq := cloneValues(q)
	// IMMEDIATE takes the write lock at BEGIN, so a read-then-write
	// transaction cannot fail with SQLITE_BUSY halfway through.
	wq.Set("_txlock", "immediate")
	var err error
	if s.w, err = sql.Open("sqlite", base+"?"+wq.Encode()); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	// One writer connection: SQLite allows one writer anyway, and queuing in
	// database/sql is cheaper and fairer than spinning on busy_timeout.
	s.w.SetMaxOpenConns(1)
	s.w.SetConnMaxIdleTime(0)
	q.Add("_pragma", "query_only(1)")
	if s.r, err = sql.Open("sqlite", base+"?"+q.Encode()); err != nil {
		s.w.Close()
		return fmt.Errorf("store: %w", err)
	}
	s.r.SetMaxOpenConns(8)
	s.r.SetMaxIdleConns(8)
	return nil
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// Backend names the dialect: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.name }

// Ping reports whether the database answers; errors wrap ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return ErrUnavailable
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", s.wrap(err))
	}
	return nil
}

// Close releases the connections. Later calls fail with ErrUnavailable.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// wrap classifies a driver error: connectivity problems become
// ErrUnavailable, unique violations ErrConflict, sql.ErrNoRows ErrNotFound.
func (s *Store) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return ErrNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case s.closed.Load() || isClosedDB(err):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	case s.d.isUnique(err):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	case s.d.isUnavailable(err):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

// isClosedDB matches database/sql's unexported "database is closed" error.
func isClosedDB(err error) bool {
	return strings.Contains(err.Error(), "sql: database is closed")
}

// op instruments one store operation; use as
// `defer s.op("name", &err)()` so the error is classified and counted.
func (s *Store) op(name string, errp *error) func() {
	start := time.Now()
	return func() {
		if *errp != nil {
			*errp = s.wrap(*errp)
			if !errors.Is(*errp, ErrNotFound) && !errors.Is(*errp, ErrConflict) {
				s.m.errors.WithLabelValues(name).Inc()
			}
		}
		s.m.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}
}

// checkOpen fails fast after Close: database/sql would also fail, but with
// an unexported error we would have to match by text.
func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return ErrUnavailable
	}
	return nil
}

// exec runs a write on the writer pool with the dialect's placeholders.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.w.ExecContext(ctx, s.d.rebind(q), args...)
}

// queryer is satisfied by *sql.DB, *sql.Tx and *sql.Conn.
type queryer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// inTx runs fn in a write transaction, rolling back on error. A
// transaction PostgreSQL aborted to break a deadlock or a serialization
// conflict with another receiver is run again (fn must be repeatable):
// callers order their writes so that it is rare, this makes it invisible.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for try := 1; ; try++ {
		err := s.tryTx(ctx, fn)
		if err == nil || try == 3 || !s.d.isRetryable(err) {
			return err
		}
		s.m.retries.Inc()
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Time helpers: zero time is NULL; stored values are unix microseconds.
func dbTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func goTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func nowUTC() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// nullStr maps "" to NULL for optional text columns.
func nullStr(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// page normalises limit/offset: limit <= 0 means def, capped at max.
func page(limit, offset, def, max int) (int, int) {
	if limit <= 0 {
		limit = def
	}
	if limit > max {
		limit = max
	}
	if offset < 0 {
		offset = 0
	}
	return limit, offset
}

// where accumulates AND-ed conditions with their arguments so filters stay
// parameterised however they are combined.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

type metrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	retries  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, backend string) *metrics {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:        "gatewarden_store_query_duration_seconds",
			Help:        "Duration of store operations.",
			ConstLabels: prometheus.Labels{"backend": backend},
			Buckets:     []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "gatewarden_store_errors_total",
			Help:        "Store operations that failed (not-found and conflict excluded).",
			ConstLabels: prometheus.Labels{"backend": backend},
		}, []string{"operation"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "gatewarden_store_transaction_retries_total",
			Help:        "Transactions run again after the database aborted them (a deadlock or serialization conflict).",
			ConstLabels: prometheus.Labels{"backend": backend},
		}),
	}
	if reg == nil {
		return m
	}
	// A reopened store (config reload) reuses the collectors already
	// registered instead of failing.
	if err := reg.Register(m.duration); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			m.duration = are.ExistingCollector.(*prometheus.HistogramVec)
		}
	}
	if err := reg.Register(m.errors); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			m.errors = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	if err := reg.Register(m.retries); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			m.retries = are.ExistingCollector.(prometheus.Counter)
		}
	}
	return m
}
