// Package console is gatewarden's status console: the page an operator
// opens first, as Prometheus and Alertmanager each ship one. It is plain
// HTML, CSS and JavaScript embedded in the binary, so it needs no build
// step and no network beyond gatewarden itself; everything it shows comes
// from the admin API and the Prometheus API of the same listener, with the
// operator's token.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed assets
var assets embed.FS

// Pages are the console's addresses. Each serves the same document, which
// draws the page its path names, so a bookmark or a reload lands where the
// operator was; any other path stays a 404.
var Pages = []string{"/alerts", "/deliveries", "/throttles", "/rules", "/graph"}

// asset is one embedded file with the validator browsers revalidate with.
type asset struct {
	name string
	body []byte
	etag string
}

// Handler serves the console's pages and assets.
type Handler struct {
	index  asset
	static map[string]asset
}

// New reads the embedded assets once.
func New() *Handler {
	h := &Handler{static: map[string]asset{}}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a := asset{name: path.Base(p), body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if a.name == "index.html" {
			h.index = a
		} else {
			h.static[a.name] = a
		}
		return nil
	})
	if err == nil && h.index.body == nil {
		err = errors.New("index.html missing")
	}
	if err != nil {
		// The files are compiled in: only a broken build gets here.
		panic("console: embedded assets unreadable: " + err.Error())
	}
	return h
}

// Register mounts the console at "/" (exactly), its pages and /static/.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.serveIndex)
	for _, p := range Pages {
		mux.HandleFunc("GET "+p, h.serveIndex)
	}
	mux.HandleFunc("GET /static/{file}", h.serveStatic)
}

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	serve(w, r, h.index)
}

func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := h.static[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	serve(w, r, a)
}

// serve answers with the asset, or 304 when the browser's copy is current:
// no-cache makes it ask on every load, so a new binary's console is never
// mixed with the old one's script.
func serve(w http.ResponseWriter, r *http.Request, a asset) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", a.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	// Everything is same-origin and in files: no inline script can run, so
	// an alert label that smuggles markup stays text.
	hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	hd.Set("Referrer-Policy", "no-referrer")
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
