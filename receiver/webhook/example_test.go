package webhook_test

import (
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gatewarden/gatewarden/receiver/webhook"
)

// A receiver checks each delivery before trusting it. The body must be read
// raw: the signature covers its exact bytes, not a re-encoding.
func ExampleVerify() {
	secret := []byte(os.Getenv("GATEWARDEN_WEBHOOK_SECRET"))
	http.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		err = webhook.Verify(secret, r.Header.Get(webhook.HeaderTimestamp), body,
			r.Header.Get(webhook.HeaderSignature), time.Now(), 5*time.Minute)
		if err != nil { // ErrBadSignature, or ErrStale for a replayed request
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		// Decode body as Alertmanager's webhook payload and act on it.
		w.WriteHeader(http.StatusNoContent)
	})
}
