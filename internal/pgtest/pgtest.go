// Package pgtest starts a throw-away PostgreSQL cluster for a test binary
// from Debian's server packages (initdb and pg_ctl), so the store and the
// admin API are tested against the real database, not a stand-in.
package pgtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver
)

// EnvURL names a server to use instead of starting one: a role allowed to
// CREATE DATABASE.
const EnvURL = "GATEWARDEN_TEST_DATABASE_URL"

// Cluster is a running server (or the reason there is none).
type Cluster struct {
	AdminURL string // database used to create one database per test
	Err      error  // why PostgreSQL is unavailable, if it is

	run   func(name string, args ...string) *exec.Cmd
	data  string
	opts  string
	dir   string
	dbSeq atomic.Int64
}

// Start starts a cluster on a free 127.0.0.1 port, or uses EnvURL. Check
// Err, or let NewDB fail the test.
func Start() *Cluster {
	if u := os.Getenv(EnvURL); u != "" {
		return &Cluster{AdminURL: u}
	}
	c := &Cluster{}
	c.Err = c.start()
	return c
}

// Unavailable is a cluster that was not started, with the reason.
func Unavailable(why string) *Cluster { return &Cluster{Err: fmt.Errorf("%s", why)} }

func findBin() (string, error) {
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

// FreePort returns a port nothing listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs initdb and pg_ctl in a temp dir. initdb refuses to run as
// root, so as root both run as the postgres system user on a dir it owns.
func (c *Cluster) start() error {
	bin, err := findBin()
	if err != nil {
		return err
	}
	if c.dir, err = os.MkdirTemp("", "gatewarden-pg-"); err != nil {
		return err
	}
	c.run = func(name string, args ...string) *exec.Cmd { return exec.Command(filepath.Join(bin, name), args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			c.cleanup()
			return fmt.Errorf("running as root and no postgres user to run initdb as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			c.cleanup()
			return err
		}
		c.run = func(name string, args ...string) *exec.Cmd {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(bin, name)}, args...)...)
		}
	}
	c.data = filepath.Join(c.dir, "data")
	if out, err := c.run("initdb", "-D", c.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C").CombinedOutput(); err != nil {
		c.cleanup()
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := FreePort()
	if err != nil {
		c.cleanup()
		return err
	}
	// fsync off and a small cluster: it lives for one test run; the socket
	// goes in our dir so /var/run/postgresql is not needed.
	c.opts = fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, c.dir)
	if err := c.Resume(); err != nil {
		c.cleanup()
		return err
	}
	c.AdminURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	return nil
}

func (c *Cluster) cleanup() {
	if c.dir != "" {
		os.RemoveAll(c.dir)
	}
}

// Pause stops the server, keeping its data, for outage tests. The fast
// mode writes what synchronous_commit=off has not flushed yet; an
// immediate stop would lose the last transactions.
func (c *Cluster) Pause() error { return c.stop("fast") }

func (c *Cluster) stop(mode string) error {
	if c.run == nil {
		return fmt.Errorf("pgtest: the cluster was not started here (%s is set)", EnvURL)
	}
	if out, err := c.run("pg_ctl", "-D", c.data, "-m", mode, "-w", "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Resume starts the server again on the same port.
func (c *Cluster) Resume() error {
	if out, err := c.run("pg_ctl", "-D", c.data, "-o", c.opts, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return nil
}

// Stop ends the server and removes its data.
func (c *Cluster) Stop() {
	if c.run != nil && c.Err == nil {
		_ = c.stop("immediate")
	}
	c.cleanup()
}

// Require fails the test when PostgreSQL is missing: a skipped backend
// would look like a passing one. Only a local `go test -short` outside CI
// may skip.
func (c *Cluster) Require(t testing.TB) {
	t.Helper()
	if c.Err == nil {
		return
	}
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skipf("PostgreSQL unavailable (-short, not CI): %v", c.Err)
	}
	t.Fatalf("PostgreSQL unavailable: %v\n(run `make test-deps` to install PostgreSQL, or set %s)", c.Err, EnvURL)
}

// NewDB creates an empty database dropped at the test's end and returns
// its URL, so every test starts from a fresh schema.
func (c *Cluster) NewDB(t testing.TB) string {
	t.Helper()
	c.Require(t)
	admin, err := sql.Open("pgx", c.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("gw_test_%d_%d", os.Getpid(), c.dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", c.AdminURL); err == nil {
			_, _ = a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			a.Close()
		}
	})
	i := strings.LastIndex(c.AdminURL, "/")
	rest := c.AdminURL[i+1:]
	query := ""
	if j := strings.Index(rest, "?"); j >= 0 {
		query = rest[j:]
	}
	return c.AdminURL[:i+1] + name + query
}

// Main runs a test binary's tests with a cluster in *c, started before
// them and stopped after, for a package's TestMain.
func Main(m *testing.M, c **Cluster) {
	*c = Start()
	code := m.Run()
	(*c).Stop()
	os.Exit(code)
}
