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

// fetcher requests one target's exposition.
type fetcher struct {
	client  *http.Client
	url     string
	limit   int64
	timeout string
	gz      *gzip.Reader
}

// fetch hands the body to read while the response is open, so it is
// consumed as it arrives. Errors reading it come out of read as scrape
// failures with their reason: timeout, HTTP or body size.
func (f *fetcher) fetch(ctx context.Context, read func(body io.Reader, contentType string) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return failure(reasonHTTP, err)
	}
	req.Header.Set("Accept", acceptHeader)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", "gatewarden")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", f.timeout)
	resp, err := f.client.Do(req)
	if err != nil {
		return classify(ctx, err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return failure(reasonHTTP, fmt.Errorf("server returned HTTP status %s", resp.Status))
	}
	r := io.Reader(resp.Body)
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if f.gz == nil {
			f.gz, err = gzip.NewReader(resp.Body)
		} else {
			err = f.gz.Reset(resp.Body)
		}
		if err != nil {
			return classify(ctx, err)
		}
		r = f.gz
	}
	return read(&bodyReader{ctx: ctx, r: r, limit: f.limit}, resp.Header.Get("Content-Type"))
}

// bodyReader enforces the body size limit and gives read errors their
// failure reason.
type bodyReader struct {
	ctx         context.Context
	r           io.Reader
	limit, read int64
}

func (b *bodyReader) Read(p []byte) (int, error) {
	// One byte past the limit tells an oversized body from one exactly at it.
	if left := b.limit - b.read + 1; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.r.Read(p)
	if b.read += int64(n); b.read > b.limit {
		return 0, failure(reasonBodySize, fmt.Errorf("%w: more than %d bytes", errBodySizeLimit, b.limit))
	}
	if err != nil && err != io.EOF {
		err = classify(b.ctx, err)
	}
	return n, err
}

// bodyBuffer holds a whole body for the parsers that need one, reused
// between scrapes.
type bodyBuffer struct {
	buf bytes.Buffer
	// last is the previous body's size: the buffer is kept near it rather
	// than at the power of two its first growth reached, which for a 100k
	// series target is 6 MB of memory held for nothing.
	last int
}

func (b *bodyBuffer) read(r io.Reader) ([]byte, error) {
	b.buf = *bytes.NewBuffer(fitted(b.buf.Bytes(), b.last))
	n, err := b.buf.ReadFrom(r)
	b.last = int(n)
	return b.buf.Bytes(), err
}

func classify(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return failure(reasonTimeout, fmt.Errorf("scrape timed out: %w", err))
	}
	return failure(reasonHTTP, err)
}

func formatSeconds(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) }
