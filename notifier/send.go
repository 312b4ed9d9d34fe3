package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// drainTimeout bounds shutdown when draining: long enough for a healthy
// Alertmanager to take a full queue, short enough not to hold up a restart
// behind a dead one.
const drainTimeout = 5 * time.Second

// Run sends queued alerts a batch at a time until ctx ends, then drains
// the queue if DrainOnShutdown, and returns nil. Call it once.
func (m *Manager) Run(ctx context.Context) error {
	grace := time.Duration(0)
	if m.opts.DrainOnShutdown {
		grace = drainTimeout
	}
	// Sends outlive ctx by the grace, so that the batch in flight when ctx
	// ends and the drain after it share one bound.
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })

	for {
		select {
		case <-ctx.Done():
		case <-m.more:
		}
		// Shutdown wins over work that was ready at the same moment, so
		// that without draining nothing more goes out.
		if ctx.Err() != nil {
			m.shutdown(sendCtx)
			return nil
		}
		m.sendBatch(sendCtx)
		if m.queueLen() > 0 {
			m.wake()
		}
	}
}

func (m *Manager) shutdown(ctx context.Context) {
	if m.opts.DrainOnShutdown {
		for ctx.Err() == nil && m.sendBatch(ctx) {
		}
	}
	if n := m.takeAll(); n > 0 {
		m.metrics.dropped.Add(float64(n))
		m.logger.Warn("Alerts left unsent at shutdown", "count", n)
	}
}

// sendBatch sends the next batch to every Alertmanager, reporting false
// when the queue was empty.
func (m *Manager) sendBatch(ctx context.Context) bool {
	batch, sets := m.next()
	if len(batch) == 0 {
		return false
	}
	if !m.sendAll(ctx, sets, batch) {
		m.metrics.dropped.Add(float64(len(batch)))
	}
	return true
}

// sendAll posts one batch to every Alertmanager at once and waits for all,
// each bounded by its set's timeout. It reports whether any accepted it:
// Alertmanagers of one cluster gossip, so one is enough for delivery.
func (m *Manager) sendAll(ctx context.Context, sets []*amSet, batch []*Alert) bool {
	body, err := json.Marshal(batch)
	if err != nil {
		m.logger.Error("Encoding alerts failed", "count", len(batch), "err", err)
		return false
	}
	var (
		wg sync.WaitGroup
		ok atomic.Bool
	)
	for _, s := range sets {
		for _, u := range s.urls {
			wg.Go(func() {
				if m.post(ctx, s, u, body, len(batch)) {
					ok.Store(true)
				}
			})
		}
	}
	wg.Wait()
	return ok.Load()
}

func (m *Manager) post(ctx context.Context, s *amSet, u *url.URL, body []byte, count int) bool {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	am := u.String()
	begin := m.opts.Now()
	if err := do(ctx, s.client, am, body); err != nil {
		// The URL carries no credentials (validation keeps them out of
		// targets) and the client's errors name secret files, not secrets.
		m.logger.Error("Sending alerts to Alertmanager failed", "alertmanager", am, "count", count, "err", err)
		m.metrics.errors.WithLabelValues(am).Add(float64(count))
		return false
	}
	m.metrics.latency.WithLabelValues(am).Observe(m.opts.Now().Sub(begin).Seconds())
	m.metrics.sent.WithLabelValues(am).Add(float64(count))
	m.logger.Debug("Sent alerts to Alertmanager", "alertmanager", am, "count", count)
	return true
}

func do(ctx context.Context, c *http.Client, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	// Read to the end so the connection is reused; the body itself is not
	// logged, as a proxy may echo the request's headers in it.
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("server returned HTTP status %s", resp.Status)
	}
	return nil
}
