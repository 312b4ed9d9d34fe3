package store

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewarden/gatewarden/internal/pgtest"
)

// pg is the PostgreSQL half of the suite's server: GATEWARDEN_TEST_DATABASE_URL
// when set, otherwise a throw-away cluster on a free 127.0.0.1 port.
var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	if wantsPostgres() {
		pg = pgtest.Start()
	} else {
		pg = pgtest.Unavailable("not started: no test selected needs it")
	}
	code := m.Run()
	pg.Stop()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

// wantsPostgres avoids a cluster start for `-run` selections (benchmarks,
// SQLite-only tests) that cannot use it. Tests needing PostgreSQL have
// "Postgres" in their top-level name.
func wantsPostgres() bool {
	r, _, _ := strings.Cut(flag.Lookup("test.run").Value.String(), "/")
	if r == "" {
		return true
	}
	re, err := regexp.Compile(r)
	return err != nil || re.MatchString("TestContractPostgres") || re.MatchString("TestPostgresConcurrentOpen")
}

// backend yields Options for a fresh, empty database of one dialect.
type backend func(t testing.TB) Options

func sqliteBackend(t testing.TB) Options {
	return Options{Path: filepath.Join(t.TempDir(), "gatewarden.db")}
}

func postgresBackend(t testing.TB) Options {
	return Options{DatabaseURL: pg.NewDB(t)}
}

// openStore opens o with its own registry and closes the store at the end.
func openStore(t testing.TB, o Options) *Store {
	t.Helper()
	o.Registerer = prometheus.NewRegistry()
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContractSQLite(t *testing.T)   { runContract(t, sqliteBackend) }
func TestContractPostgres(t *testing.T) { runContract(t, postgresBackend) }

// TestPostgresUnreachable needs no server: nothing listens on the port.
func TestPostgresUnreachable(t *testing.T) {
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = Open(c, Options{DatabaseURL: fmt.Sprintf("postgres://u@127.0.0.1:%d/db?sslmode=disable&connect_timeout=2", port)})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open on a closed port: %v, want ErrUnavailable", err)
	}
}
