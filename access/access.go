// Package access decides who may call what on gatewarden's listener: one
// authorization model for the admin API, the Alertmanager and Prometheus
// APIs, ingest, silences, the lifecycle endpoints and pprof
// (docs/http-api.md has the table). Credentials are the admin API's
// bearer tokens (roles admin, ingest, read) and the receiver's ingest
// credentials (a bearer token or basic auth, what Prometheus and
// Alertmanager send). Without tokens everything is open, as Alertmanager
// and Prometheus are, and the daemon warns at start; the ingest
// credentials, when set, still guard posting alerts and silences.
package access

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gatewarden/gatewarden/config"
)

// Need is what an endpoint requires.
type Need int

const (
	// Read: the admin API's reads, the Alertmanager API's reads of alerts,
	// silences and status, the Prometheus API. Any credential will do.
	Read Need = iota
	// Ingest: posting alerts and writing silences. The ingest credentials,
	// an ingest token or an admin token.
	Ingest
	// Admin: changing gatewarden (the admin API's writes, reload, quit,
	// pprof). An admin token.
	Admin
)

func (n Need) String() string {
	return [...]string{"read", "ingest", "admin"}[n]
}

// Principal is who made a request: a token's name and role, or the
// receiver's ingest credentials. Anonymous when everything is open.
type Principal struct {
	Name string
	Role string // config.RoleAdmin, RoleIngest, RoleRead; "" anonymous
}

// Anonymous is the principal of a request while nothing is configured.
var Anonymous = Principal{Name: "anonymous"}

// may reports whether p satisfies n.
func (p Principal) may(n Need) bool {
	switch p.Role {
	case config.RoleAdmin:
		return true
	case config.RoleIngest:
		return n <= Ingest
	case config.RoleRead:
		return n == Read
	}
	return false
}

// Guard holds the credentials of the running config; a reload swaps them.
type Guard struct {
	cur atomic.Pointer[credentials]
}

type credentials struct {
	api    *config.APIConfig
	ingest *config.IngestAuth
}

// New returns a guard that lets everything through until Apply.
func New() *Guard {
	g := &Guard{}
	g.cur.Store(&credentials{api: &config.APIConfig{}})
	return g
}

// Apply takes the credentials of a (re)loaded config.
func (g *Guard) Apply(cfg *config.Config) {
	c := &credentials{api: &cfg.API}
	if cfg.Receiver != nil {
		c.ingest = cfg.Receiver.Auth
	}
	g.cur.Store(c)
}

// Open reports whether a request needing need goes through without
// credentials: no token is configured, and for ingest no ingest
// credentials either.
func (g *Guard) Open(need Need) bool {
	c := g.cur.Load()
	return c.api.Open() && (need != Ingest || c.ingest == nil)
}

// Who identifies a request's credentials; ok is false when it presented
// none, or none that matches.
func (g *Guard) Who(r *http.Request) (p Principal, ok bool) {
	c := g.cur.Load()
	if scheme, tok, found := strings.Cut(r.Header.Get("Authorization"), " "); found && strings.EqualFold(scheme, "Bearer") {
		if name, role := c.api.Lookup(strings.TrimSpace(tok)); role != "" {
			return Principal{Name: name, Role: role}, true
		}
	}
	if c.ingest != nil && c.ingest.Allows(r) {
		return Principal{Name: "receiver.auth", Role: config.RoleIngest}, true
	}
	return Principal{}, false
}

// Denial writes a refusal in the API's own error format: code is 401
// (no or wrong credentials) or 403 (not allowed).
type Denial func(w http.ResponseWriter, code int, msg string)

// Require wraps h so that only a principal satisfying need reaches it,
// with the principal in the request's context (From). Everything is open
// while no credential is configured.
func (g *Guard) Require(need Need, deny Denial, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.Open(need) {
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, Anonymous)))
			return
		}
		p, ok := g.Who(r)
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatewarden", Basic realm="gatewarden"`)
			deny(w, http.StatusUnauthorized, "a valid bearer token (or the receiver's ingest credentials) is required")
		case !p.may(need):
			deny(w, http.StatusForbidden, forbidden[p.Role]+"; this needs "+article(need)+" "+need.String()+" token")
		default:
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		}
	})
}

// forbidden says what a role may do, when it asked for more.
var forbidden = map[string]string{
	config.RoleRead:   "a read token may read but not change anything",
	config.RoleIngest: "ingest credentials may post alerts and change silences, nothing more",
}

func article(n Need) string {
	if n == Read {
		return "a"
	}
	return "an"
}

type principalKey struct{}

// From returns the principal Require let through.
func From(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// PlainDenial answers in plain text, as Prometheus's own endpoints do.
func PlainDenial(w http.ResponseWriter, code int, msg string) { http.Error(w, msg, code) }
