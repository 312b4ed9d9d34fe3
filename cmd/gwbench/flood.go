package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// floodOpts is a hostile sender: distinct alerts as fast as it can, never
// re-posting, each of about a given size.
type floodOpts struct {
	alerts  []int // distinct alerts sent, per alert size
	sizes   []int // bytes of label and annotation names and values
	batch   int
	clients int
	groupBy string // the route's group_by labels, comma-separated
	// deliverWithin bounds the wait for every accepted alert at the sink;
	// 0 does not wait (the per-channel rate limit paces one notification
	// per group: 20,000 groups take half an hour).
	deliverWithin time.Duration
}

// runFlood sends each size's distinct alerts to a default daemon (the
// built-in rule pack, no limits configured) whose one receiver is a
// webhook on gwbench's own sink, and measures what the limits promise:
// the peak RSS, what was accepted and refused, /-/healthy answering while
// it happens, and every accepted alert delivered.
func runFlood(ctx context.Context, e *env, o floodOpts, r *Report) error {
	for i, size := range o.sizes {
		if err := floodOne(ctx, e, o, o.alerts[i], size, r); err != nil {
			return fmt.Errorf("flood of %d-byte alerts: %w", size, err)
		}
	}
	return nil
}

func floodOne(ctx context.Context, e *env, o floodOpts, n, size int, r *Report) error {
	sink, err := newFloodSink()
	if err != nil {
		return err
	}
	defer sink.close()
	cfg := fmt.Sprintf(`receiver:
  route: {receiver: sink, group_by: [%s], group_wait: 5s, group_interval: 30s}
  receivers:
    - name: sink
      webhook_configs: [{url: %q}]
`, o.groupBy, sink.url)
	gw, err := e.startGatewarden(ctx, "flood", cfg, map[string]string{})
	if err != nil {
		return err
	}
	defer gw.stop()
	e.logf("flood: %d distinct alerts of %d bytes, batches of %d, %d clients", n, size, o.batch, o.clients)

	watchCtx, stopWatch := context.WithCancel(ctx)
	w := &floodWatch{gw: gw, e: e}
	var watching sync.WaitGroup
	watching.Go(func() { w.run(watchCtx) })
	start := time.Now()
	sent, err := floodSend(ctx, "http://"+gw.addr+ingestPaths["v2"], n, size, o)
	if err != nil {
		stopWatch()
		watching.Wait()
		return err
	}
	sendTime := time.Since(start)
	// Delivered: every accepted alert reached the sink, in the time the
	// group timings allow (group_wait, then batches of group_interval).
	var derr error
	if o.deliverWithin > 0 {
		derr = waitFor(ctx, o.deliverWithin, time.Second, "every accepted alert delivered", func() (bool, error) {
			return sink.count() >= sent.accepted, nil
		})
	}
	stopWatch()
	watching.Wait()
	ms, err := e.metrics(gw)
	if err != nil {
		return err
	}
	ctxt := fmt.Sprintf("%d distinct alerts of %d B in batches of %d, %d clients, sent in %.1f s; group_by [%s], default limits", n, size, o.batch, o.clients, sendTime.Seconds(), o.groupBy)
	r.add(Figure{Key: "flood.rss", Size: size, Value: w.peakRSS, Unit: "B", Context: ctxt + "; the peak, sampled every 100 ms"})
	r.add(Figure{Key: "flood.accepted", Size: size, Value: float64(sent.accepted), Unit: "alerts", Context: ctxt})
	r.add(Figure{Key: "flood.rejected", Size: size, Value: float64(sent.refused), Unit: "alerts", Context: ctxt + fmt.Sprintf("; by limit %v", ms.byLabel("gatewarden_receiver_alerts_rejected_total", "reason"))})
	if o.deliverWithin > 0 {
		r.add(Figure{Key: "flood.undelivered", Size: size, Value: float64(max(0, sent.accepted-sink.count())), Unit: "alerts",
			Context: ctxt + fmt.Sprintf("; accepted and not at the sink within %s", o.deliverWithin)})
	}
	if sent.busy > 0 {
		r.note("flood[%d]: %d alerts answered 503 (the store behind) and were not retried", size, sent.busy)
	}
	d := newDist("flood.healthy", size, w.healthy)
	d.Context = "GET /-/healthy every 100 ms during the flood and the delivery"
	r.addDist(d)
	r.add(Figure{Key: "flood.healthy.max", Size: size, Value: d.Max, Unit: "s", Context: d.Context})
	return derr
}

// floodResult is what the sender was told.
type floodResult struct{ accepted, refused, busy int }

var refusedCount = regexp.MustCompile(`^(\d+) alerts refused`)

// floodSend posts n distinct alerts and counts the answers: 200 takes the
// batch, 429 says how many of it were refused.
func floodSend(ctx context.Context, url string, n, size int, o floodOpts) (floodResult, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.clients}, Timeout: time.Minute}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var mu sync.Mutex
	var res floodResult
	var firstErr error
	var wg sync.WaitGroup
	for range o.clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				first := int(next.Add(int64(o.batch))) - o.batch
				if first >= n {
					return
				}
				body := floodBody(first, min(first+o.batch, n), size)
				got, err := floodPost(ctx, client, url, body, min(o.batch, n-first))
				mu.Lock()
				if err != nil {
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				res.accepted, res.refused, res.busy = res.accepted+got.accepted, res.refused+got.refused, res.busy+got.busy
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return res, firstErr
}

func floodPost(ctx context.Context, c *http.Client, url string, body []byte, n int) (floodResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return floodResult{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return floodResult{}, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		return floodResult{accepted: n}, nil
	case http.StatusServiceUnavailable:
		return floodResult{busy: n}, nil
	case http.StatusTooManyRequests:
		var e struct{ Error string }
		_ = json.Unmarshal(answer, &e)
		m := refusedCount.FindStringSubmatch(e.Error)
		if m == nil {
			return floodResult{}, fmt.Errorf("429 without a count: %s", answer)
		}
		refused, _ := strconv.Atoi(m[1])
		return floodResult{accepted: n - refused, refused: refused}, nil
	}
	return floodResult{}, fmt.Errorf("POST %s: %s: %s", url, resp.Status, answer)
}

// floodBody encodes alerts [first, last): twenty alertnames, a distinct
// master each, and a summary padding the alert to size bytes. It appends
// bytes rather than formatting: gwbench shares the machine's cores with
// the daemon, and the less it spends encoding, the more the figures are
// the daemon's.
func floodBody(first, last, size int) []byte {
	pad := strings.Repeat("x", max(1, size-floodFixed))
	b := make([]byte, 0, (last-first)*(size+100))
	b = append(b, '[')
	for i := first; i < last; i++ {
		if i > first {
			b = append(b, ',')
		}
		b = append(b, `{"labels":{"alertname":"Flood`...)
		if i%20 < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, int64(i%20), 10)
		b = append(b, `","master":"m`...)
		b = strconv.AppendInt(b, int64(i), 10)
		// The padding stops short of the size by the master's digits, as
		// the names' lengths count towards it.
		b = append(b, `"},"annotations":{"summary":"`...)
		b = append(b, pad[:max(1, len(pad)-len(strconv.Itoa(i)))]...)
		b = append(b, `"},"endsAt":"2099-01-01T00:00:00Z"}`...)
	}
	return append(b, ']')
}

// floodFixed is what an alert's names and values take besides the
// master's digits and the padding: "alertname", "FloodNN", "master", "m",
// "summary".
const floodFixed = len("alertname") + len("Flood00") + len("master") + len("m") + len("summary")

// floodWatch samples the daemon while the flood runs: its RSS and how
// long /-/healthy takes.
type floodWatch struct {
	gw      *proc
	e       *env
	peakRSS float64
	healthy []time.Duration
}

func (w *floodWatch) run(ctx context.Context) {
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if rss, err := w.gw.rss(); err == nil {
			w.peakRSS = max(w.peakRSS, rss)
		}
		start := time.Now()
		resp, err := client.Get("http://" + w.gw.addr + "/-/healthy")
		took := time.Since(start)
		if err != nil {
			if ctx.Err() == nil {
				w.healthy = append(w.healthy, took)
			}
			continue
		}
		resp.Body.Close()
		w.healthy = append(w.healthy, took)
	}
}

// floodSink counts the distinct firing flood alerts the daemon delivered.
type floodSink struct {
	*webhookSink
	masters map[string]struct{}
}

func newFloodSink() (*floodSink, error) {
	s := &floodSink{masters: map[string]struct{}{}}
	hook, err := startWebhookSink(func(_ time.Time, labels map[string]string) {
		if strings.HasPrefix(labels["alertname"], "Flood") {
			s.masters[labels["master"]] = struct{}{}
		}
	})
	s.webhookSink = hook
	return s, err
}

func (s *floodSink) count() (n int) {
	s.locked(func() { n = len(s.masters) })
	return n
}
