package webhook

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// The vector docs/webhook.md shows, computed there with openssl and Python.
const (
	vectorSecret    = "s3cret"
	vectorTimestamp = "1796119200" // testNow
	vectorBody      = `{"version":"4"}`
	vectorSignature = "3890013544ec5abbf28eab5d98f4f31cf9cbf24f27871a52abeac9d082d049ab"
)

func TestSignVector(t *testing.T) {
	if got := Sign([]byte(vectorSecret), vectorTimestamp, []byte(vectorBody)); got != vectorSignature {
		t.Errorf("Sign = %s, want %s", got, vectorSignature)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte(vectorSecret)
	for _, tc := range []struct {
		name    string
		secret  []byte
		ts, sig string
		body    string
		now     time.Time
		maxSkew time.Duration
		want    error // nil, a sentinel, or errOther for any other error
	}{
		{"valid", secret, vectorTimestamp, vectorSignature, vectorBody, testNow, time.Minute, nil},
		{"uppercase hex", secret, vectorTimestamp, strings.ToUpper(vectorSignature), vectorBody, testNow, time.Minute, nil},
		{"at the edge of the skew", secret, vectorTimestamp, vectorSignature, vectorBody, testNow.Add(time.Minute), time.Minute, nil},
		{"default skew", secret, vectorTimestamp, vectorSignature, vectorBody, testNow.Add(4 * time.Minute), 0, nil},
		{"old", secret, vectorTimestamp, vectorSignature, vectorBody, testNow.Add(time.Minute + time.Second), time.Minute, ErrStale},
		{"from the future", secret, vectorTimestamp, vectorSignature, vectorBody, testNow.Add(-2 * time.Minute), time.Minute, ErrStale},
		{"beyond the default skew", secret, vectorTimestamp, vectorSignature, vectorBody, testNow.Add(6 * time.Minute), 0, ErrStale},
		{"other body", secret, vectorTimestamp, vectorSignature, vectorBody + " ", testNow, time.Minute, ErrBadSignature},
		{"other secret", []byte("s3creT"), vectorTimestamp, vectorSignature, vectorBody, testNow, time.Minute, ErrBadSignature},
		// A timestamp moved forward to dodge the skew check breaks the MAC.
		{"other timestamp", secret, "1796119260", vectorSignature, vectorBody, testNow.Add(time.Minute), time.Minute, ErrBadSignature},
		{"truncated signature", secret, vectorTimestamp, vectorSignature[:62], vectorBody, testNow, time.Minute, ErrBadSignature},
		{"not hex", secret, vectorTimestamp, "sha256=" + vectorSignature, vectorBody, testNow, time.Minute, ErrBadSignature},
		{"empty signature", secret, vectorTimestamp, "", vectorBody, testNow, time.Minute, ErrBadSignature},
		{"timestamp not a number", secret, "2026-12-01", vectorSignature, vectorBody, testNow, time.Minute, errOther},
		{"empty timestamp", secret, "", vectorSignature, vectorBody, testNow, time.Minute, errOther},
	} {
		err := Verify(tc.secret, tc.ts, []byte(tc.body), tc.sig, tc.now, tc.maxSkew)
		switch {
		case tc.want == nil && err != nil,
			tc.want == errOther && (err == nil || errors.Is(err, ErrStale) || errors.Is(err, ErrBadSignature)),
			tc.want != nil && tc.want != errOther && !errors.Is(err, tc.want):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

var errOther = errors.New("any other error")

// TestDocumentedVector keeps docs/webhook.md's recipe and vector in step
// with the code.
func TestDocumentedVector(t *testing.T) {
	doc, err := os.ReadFile("../../docs/webhook.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{vectorSecret, vectorTimestamp, "`" + vectorBody + "`", vectorSignature, HeaderTimestamp, HeaderSignature} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/webhook.md lacks %q", want)
		}
	}
}
