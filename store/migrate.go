package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	stmts   []string
}

// loadMigrations reads NNNN_name.sql files in version order and renders the
// dialect's substitutions.
func loadMigrations(d *dialect) ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("store: migration %s: name must be NNNN_description.sql", base)
		}
		body, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		sqlText := strings.ReplaceAll(string(body), "{{id}}", d.idColumn)
		ms = append(ms, migration{version: v, name: base, stmts: splitStatements(sqlText)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("store: duplicate migration version %d", ms[i].version)
		}
	}
	return ms, nil
}

// splitStatements splits on semicolons ending a line and drops comment-only
// chunks; executing one statement per call works the same on both drivers.
func splitStatements(s string) []string {
	var out []string
	for _, chunk := range strings.Split(s, ";\n") {
		var keep []string
		for _, line := range strings.Split(chunk, "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "--") {
				keep = append(keep, line)
			}
		}
		if stmt := strings.TrimSuffix(strings.TrimSpace(strings.Join(keep, "\n")), ";"); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}

// migrate applies pending migrations, each in its own transaction together
// with its schema_migrations row. On PostgreSQL an advisory lock held on one
// connection serialises concurrent starters; on SQLite the writer's
// BEGIN IMMEDIATE does, and the version is re-checked inside the transaction
// so a second process never applies a migration twice.
func (s *Store) migrate(ctx context.Context) (err error) {
	defer s.op("migrate", &err)()
	ms, err := loadMigrations(s.d)
	if err != nil {
		return err
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Close()
	if err := s.d.lock(ctx, conn); err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	// Unlock with a fresh context: the caller's may already be cancelled.
	defer func() { _ = s.d.unlock(context.WithoutCancel(ctx), conn) }()

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		applied, err := s.applyMigration(ctx, conn, m)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", m.name, err)
		}
		if applied {
			s.log.Info("applied migration", "backend", s.d.name, "migration", m.name)
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, conn *sql.Conn, m migration) (bool, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), m.version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	for _, stmt := range m.stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("%w\n%s", err, stmt)
		}
	}
	if _, err := tx.ExecContext(ctx, s.d.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.version, m.name, nowUTC().UnixMicro()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// SchemaVersion returns the highest applied migration version.
func (s *Store) SchemaVersion(ctx context.Context) (v int, err error) {
	defer s.op("schema_version", &err)()
	if err = s.checkOpen(); err != nil {
		return 0, err
	}
	err = s.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v)
	return v, err
}

// CreatedAt is when the store was made: its first migration.
func (s *Store) CreatedAt(ctx context.Context) (t time.Time, err error) {
	defer s.op("created_at", &err)()
	if err = s.checkOpen(); err != nil {
		return t, err
	}
	var at sql.NullInt64
	err = s.r.QueryRowContext(ctx, "SELECT MIN(applied_at) FROM schema_migrations").Scan(&at)
	return goTime(at), err
}
