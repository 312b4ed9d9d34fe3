package webhook

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	commoncfg "github.com/prometheus/common/config"
)

// BenchmarkNotify signs and posts a group of 100 alerts to a local server
// that reads the body and answers 204, over a kept-alive connection.
func BenchmarkNotify(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	n := notifier(b, &Config{URL: commoncfg.Secret(srv.URL + "/hook"), Secret: "s3cret"})
	m := sample(100)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Notify(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
