package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func server(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	New().Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPagesServeTheDocument(t *testing.T) {
	srv := server(t)
	for _, p := range append([]string{"/"}, Pages...) {
		resp, body := get(t, srv.URL+p)
		if resp.StatusCode != 200 || !strings.Contains(body, `<script defer src="/static/console.js">`) {
			t.Errorf("GET %s: %d %.80q", p, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", p, csp)
		}
	}
}

func TestAssetsRevalidate(t *testing.T) {
	srv := server(t)
	for file, ct := range map[string]string{"console.js": "text/javascript", "pages.js": "text/javascript", "console.css": "text/css"} {
		resp, body := get(t, srv.URL+"/static/"+file)
		if resp.StatusCode != 200 || body == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) {
			t.Fatalf("GET /static/%s: %d %q", file, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		etag := resp.Header.Get("ETag")
		if again, _ := get(t, srv.URL+"/static/"+file, "If-None-Match", etag); etag == "" || again.StatusCode != http.StatusNotModified {
			t.Errorf("%s with If-None-Match %q: %d, want 304", file, etag, again.StatusCode)
		}
	}
}

// TestUnknownPathsAre404 keeps the console from swallowing the listener's
// namespace: only its own addresses answer.
func TestUnknownPathsAre404(t *testing.T) {
	srv := server(t)
	for _, p := range []string{"/nope", "/alerts/1", "/static/", "/static/index.html", "/static/missing.js", "/static/../console.go", "/index.html"} {
		if resp, _ := get(t, srv.URL+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", srv.URL+"/alerts", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /alerts: %d, want 405", resp.StatusCode)
	}
}
