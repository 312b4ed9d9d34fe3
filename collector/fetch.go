package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// acceptHeader prefers the classic text format, the cheapest to parse, and
// still takes OpenMetrics from targets that only speak it.
const acceptHeader = "text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,application/openmetrics-text;version=0.0.1;q=0.3,*/*;q=0.1"

var errBodySizeLimit = errors.New("body size limit exceeded")

// scrapeError carries the reason label with the message users read.
type scrapeError struct {
	reason string
	err    error
}

func (e *scrapeError) Error() string { return e.err.Error() }
func (e *scrapeError) Unwrap() error { return e.err }

func failure(reason string, err error) error { return &scrapeError{reason: reason, err: err} }

// fetcher reads one target's exposition into a buffer it reuses, so a steady
// scrape allocates nothing for the body.
type fetcher struct {
	client  *http.Client
	url     string
	limit   int64
	timeout string
	buf     bytes.Buffer
	gz      *gzip.Reader
	// last is the previous body's size: the buffer is kept near it rather
	// than at the power of two its first growth reached, which for a 100k
	// series target is 6 MB of memory held for nothing.
	last int
}

func (f *fetcher) fetch(ctx context.Context) (body []byte, contentType string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, "", failure(reasonHTTP, err)
	}
	req.Header.Set("Accept", acceptHeader)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", "gatewarden")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", f.timeout)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, "", classify(ctx, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return nil, "", failure(reasonHTTP, fmt.Errorf("server returned HTTP status %s", resp.Status))
	}
	r := io.Reader(resp.Body)
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if f.gz == nil {
			f.gz, err = gzip.NewReader(resp.Body)
		} else {
			err = f.gz.Reset(resp.Body)
		}
		if err != nil {
			return nil, "", classify(ctx, err)
		}
		r = f.gz
	}
	f.buf.Reset()
	if want := f.last + f.last/8 + bytes.MinRead; f.last > 0 && f.buf.Cap() > want+want/4 {
		f.buf = *bytes.NewBuffer(make([]byte, 0, want))
	}
	// One byte past the limit tells an oversized body from one exactly at it.
	n, err := f.buf.ReadFrom(io.LimitReader(r, f.limit+1))
	f.last = int(n)
	if err != nil {
		return nil, "", classify(ctx, err)
	}
	if n > f.limit {
		return nil, "", failure(reasonBodySize, fmt.Errorf("%w: more than %d bytes", errBodySizeLimit, f.limit))
	}
	return f.buf.Bytes(), resp.Header.Get("Content-Type"), nil
}

func classify(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return failure(reasonTimeout, fmt.Errorf("scrape timed out: %w", err))
	}
	return failure(reasonHTTP, err)
}

func formatSeconds(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) }
