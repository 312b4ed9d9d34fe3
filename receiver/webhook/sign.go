package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// Headers of a signed delivery. The signature covers the timestamp so that a
// captured request cannot be replayed once it is older than the receiver's
// allowed skew.
const (
	HeaderTimestamp = "X-Gatewarden-Timestamp" // unix seconds, decimal
	HeaderSignature = "X-Gatewarden-Signature" // lowercase hex HMAC-SHA256
	// HeaderNotification is the outbox item's id: the same id twice is the
	// one repeat a crash allows, which a receiver can drop.
	HeaderNotification = "X-Gatewarden-Notification"
)

// DefaultMaxSkew is the clock skew Verify allows when given none.
const DefaultMaxSkew = 5 * time.Minute

// Errors Verify returns; a receiver answers either with 401.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrStale        = errors.New("webhook: timestamp outside the allowed skew")
)

// Sign returns hex(HMAC-SHA256(secret, timestamp + "." + body)), the value of
// HeaderSignature.
func Sign(secret []byte, timestamp string, body []byte) string {
	return hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a delivery as a receiver gets it: the two headers' values and
// the raw body. It compares in constant time, and checks the timestamp only
// after the signature, so ErrStale means an authentic but old (or replayed)
// request. maxSkew bounds |now - timestamp| in both directions; 0 means
// DefaultMaxSkew.
func Verify(secret []byte, timestamp string, body []byte, signature string, now time.Time, maxSkew time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook: timestamp is not unix seconds")
	}
	got, err := hex.DecodeString(signature)
	if err != nil || !hmac.Equal(got, mac(secret, timestamp, body)) {
		return ErrBadSignature
	}
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > maxSkew || skew < -maxSkew {
		return ErrStale
	}
	return nil
}
