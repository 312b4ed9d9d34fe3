package store

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The PostgreSQL half of the suite runs against GATEWARDEN_TEST_DATABASE_URL
// when set (a role allowed to CREATE DATABASE), otherwise against a
// throw-away cluster this file starts on a free 127.0.0.1 port.
var (
	pgAdminURL string // database used to create one database per test
	pgErr      error  // why PostgreSQL is unavailable, if it is
	pgDBSeq    atomic.Int64
)

func TestMain(m *testing.M) {
	flag.Parse()
	stop := func() {}
	if u := os.Getenv("GATEWARDEN_TEST_DATABASE_URL"); u != "" {
		pgAdminURL = u
	} else if !wantsPostgres() {
		pgErr = fmt.Errorf("not started: no test selected needs it")
	} else {
		pgAdminURL, stop, pgErr = startCluster()
	}
	code := m.Run()
	stop()
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

// requirePostgres fails the test when PostgreSQL is missing: a skipped
// backend would look like a passing one. Only a local `go test -short`
// outside CI may skip.
func requirePostgres(t testing.TB) {
	t.Helper()
	if pgErr == nil {
		return
	}
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skipf("PostgreSQL unavailable (-short, not CI): %v", pgErr)
	}
	t.Fatalf("PostgreSQL unavailable: %v\n(run `make test-deps` to install PostgreSQL, or set GATEWARDEN_TEST_DATABASE_URL)", pgErr)
}

func findPGBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs))) // newest major first
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("initdb not found under /usr/lib/postgresql/*/bin or in PATH")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startCluster runs initdb and pg_ctl in a temp dir. initdb refuses to run
// as root, so as root both run as the postgres system user on a dir it owns.
func startCluster() (string, func(), error) {
	bin, err := findPGBin()
	if err != nil {
		return "", func() {}, err
	}
	dir, err := os.MkdirTemp("", "gatewarden-pg-")
	if err != nil {
		return "", func() {}, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	run := func(name string, args ...string) *exec.Cmd {
		return exec.Command(filepath.Join(bin, name), args...)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			cleanup()
			return "", func() {}, fmt.Errorf("running as root and no postgres user to run initdb as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			cleanup()
			return "", func() {}, err
		}
		run = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C").CombinedOutput(); err != nil {
		cleanup()
		return "", func() {}, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		cleanup()
		return "", func() {}, err
	}
	// fsync off and a small shared_buffers: the cluster lives for one test
	// run; the socket goes in our dir so /var/run/postgresql is not needed.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, dir)
	if out, err := run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		cleanup()
		return "", func() {}, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	stop := func() {
		_ = run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop").Run()
		cleanup()
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), stop, nil
}

// newPostgresDB creates an empty database and returns its URL, so every
// test starts from a fresh schema.
func newPostgresDB(t testing.TB) string {
	requirePostgres(t)
	admin, err := sql.Open("pgx", pgAdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("gw_test_%d_%d", os.Getpid(), pgDBSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", pgAdminURL); err == nil {
			_, _ = a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			a.Close()
		}
	})
	i := strings.LastIndex(pgAdminURL, "/")
	rest := pgAdminURL[i+1:]
	query := ""
	if j := strings.Index(rest, "?"); j >= 0 {
		query = rest[j:]
	}
	return pgAdminURL[:i+1] + name + query
}

// backend yields Options for a fresh, empty database of one dialect.
type backend func(t testing.TB) Options

func sqliteBackend(t testing.TB) Options {
	return Options{Path: filepath.Join(t.TempDir(), "gatewarden.db")}
}

func postgresBackend(t testing.TB) Options {
	return Options{DatabaseURL: newPostgresDB(t)}
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
	port, err := freePort()
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
