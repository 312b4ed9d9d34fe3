package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type receiveOpts struct {
	batches  []int
	apis     []string // v2, webhook
	clients  int
	alerts   int
	duration time.Duration
}

// ingestPaths are the receiver's two ingest APIs.
var ingestPaths = map[string]string{
	"v2":      "/api/v2/alerts",
	"webhook": "/api/v1/webhook/alertmanager",
}

const receiverOnlyConfig = `rule_files: []
receiver:
  route: {receiver: blackhole, group_by: [alertname]}
  receivers: [{name: blackhole}]
`

// runReceive posts alerts to a receiver-only gatewarden, a fresh one per
// API and batch size: a warm-up posts every distinct alert once (a steady
// sender's alerts are known), then the clients post for the duration.
func runReceive(ctx context.Context, e *env, o receiveOpts, r *Report) error {
	for _, api := range o.apis {
		if _, ok := ingestPaths[api]; !ok {
			return fmt.Errorf("unknown receive API %q: want v2 or webhook", api)
		}
		for _, batch := range o.batches {
			if err := receiveOne(ctx, e, o, api, batch, r); err != nil {
				return fmt.Errorf("receive %s, batches of %d: %w", api, batch, err)
			}
		}
	}
	return nil
}

func receiveOne(ctx context.Context, e *env, o receiveOpts, api string, batch int, r *Report) error {
	e.logf("receive: %s, batches of %d, %d clients, %d distinct alerts, %s", api, batch, o.clients, o.alerts, o.duration)
	gw, err := e.startGatewarden(ctx, "receive", receiverOnlyConfig, map[string]string{})
	if err != nil {
		return err
	}
	defer gw.stop()
	bodies := alertBodies(api, o.alerts, batch)
	url := "http://" + gw.addr + ingestPaths[api]
	warm := load{url: url, bodies: bodies, clients: o.clients, requests: len(bodies)}
	if _, err := warm.run(ctx); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	// Steady state: the store holds every alert, as a sender's re-posts
	// find them; measuring while the first 10,000 rows go in measures that.
	if err := waitFor(ctx, time.Minute, 100*time.Millisecond, "the warm-up's alerts stored", func() (bool, error) {
		ms, err := e.metrics(gw)
		return err == nil && ms.sum("gatewarden_alert_record_pending") == 0 && ms.sum("gatewarden_alerts_recorded_total") >= float64(o.alerts), err
	}); err != nil {
		return err
	}
	res, err := (&load{url: url, bodies: bodies, clients: o.clients, duration: o.duration}).run(ctx)
	if err != nil {
		return err
	}
	rss, err := gw.rss()
	if err != nil {
		return err
	}
	ctxt := fmt.Sprintf("%d clients, %d distinct alerts, %s", o.clients, o.alerts, o.duration)
	secs := res.elapsed.Seconds()
	key := "receive." + api
	r.add(Figure{Key: key + ".requests_per_s", Size: batch, Value: float64(len(res.latencies)) / secs, Unit: "req/s", Context: ctxt})
	r.add(Figure{Key: key + ".alerts_per_s", Size: batch, Value: float64(len(res.latencies)*batch) / secs, Unit: "alerts/s", Context: ctxt})
	d := newDist(key, batch, res.latencies)
	d.Context = ctxt + ", as fast as they can"
	r.addDist(d)
	r.add(Figure{Key: key + ".rss", Size: batch, Value: rss, Unit: "B", Context: ctxt})
	return receivePaced(ctx, o, url, bodies, batch, key, r)
}

// receivePaced posts at the throughput target of the batch size, when it
// has one: the latency a sender sees at the load the receiver is sized
// for. At saturation, as above, the latency is also the clients' queue
// (clients ÷ throughput) and, on 2 cores, the load generator's share of
// them.
func receivePaced(ctx context.Context, o receiveOpts, url string, bodies [][]byte, batch int, key string, r *Report) error {
	rate := 0.0
	if t, ok := targetFor("receive.v2.alerts_per_s", batch); ok {
		rate = t.Value / float64(batch)
	} else if t, ok := targetFor("receive.v2.requests_per_s", batch); ok {
		rate = t.Value
	}
	if rate == 0 {
		return nil
	}
	res, err := (&load{url: url, bodies: bodies, clients: o.clients, duration: o.duration, rate: rate}).run(ctx)
	if err != nil {
		return fmt.Errorf("paced at %.0f req/s: %w", rate, err)
	}
	d := newDist(key+".paced", batch, res.latencies)
	d.Context = fmt.Sprintf("%d clients at %.0f req/s (%.0f alerts/s), %s; from when each request was due", o.clients, rate, rate*float64(batch), o.duration)
	r.addDist(d)
	return nil
}

// alertBodies encodes n distinct alerts into request bodies of batch
// alerts each, in the API's payload.
func alertBodies(api string, n, batch int) [][]byte {
	var out [][]byte
	for first := 0; first < n; first += batch {
		var b strings.Builder
		for i := first; i < min(first+batch, n); i++ {
			if i > first {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"labels":{"alertname":"Load%d","master":"m%d","severity":"warning"},"annotations":{"summary":"load test alert %d"},"endsAt":"2099-01-01T00:00:00Z"`, i%20, i, i)
			if api == "webhook" {
				b.WriteString(`,"status":"firing","startsAt":"2026-01-01T00:00:00Z"`)
			}
			b.WriteByte('}')
		}
		if api == "webhook" {
			out = append(out, []byte(`{"version":"4","status":"firing","receiver":"gwbench","groupKey":"{}:{}","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://gwbench","alerts":[`+b.String()+`]}`))
		} else {
			out = append(out, []byte("["+b.String()+"]"))
		}
	}
	return out
}

// load is the ingest load generator: clients posting bodies round robin,
// either a number of requests or for a duration, as fast as they can or,
// with a rate, each request when it is due.
type load struct {
	url      string
	bodies   [][]byte
	clients  int
	requests int
	duration time.Duration
	rate     float64 // requests per second; 0: unpaced
}

type loadResult struct {
	latencies []time.Duration
	elapsed   time.Duration
}

func (l *load) run(ctx context.Context) (loadResult, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: l.clients}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if l.duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, l.duration)
		defer cancel()
	}
	var next atomic.Int64
	var mu sync.Mutex
	var res loadResult
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range l.clients {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if l.requests > 0 && i >= l.requests {
					break
				}
				due, ok := l.wait(ctx, start, i)
				if !ok {
					break
				}
				took, err := l.post(ctx, client, l.bodies[i%len(l.bodies)])
				if l.rate > 0 {
					// From when it was due, not when it went: a request
					// that waited for a busy client counts its wait
					// (no coordinated omission).
					took = time.Since(due)
				}
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = cmpErr(firstErr, err)
						mu.Unlock()
						cancel()
					}
					break
				}
				mine = append(mine, took)
			}
			mu.Lock()
			res.latencies = append(res.latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, firstErr
}

// wait returns when request i is due: at once unpaced, else at i ÷ rate
// after start; false if ctx ended first.
func (l *load) wait(ctx context.Context, start time.Time, i int) (time.Time, bool) {
	if l.rate <= 0 {
		return time.Now(), true
	}
	due := start.Add(time.Duration(float64(i) / l.rate * float64(time.Second)))
	t := time.NewTimer(time.Until(due))
	defer t.Stop()
	select {
	case <-t.C:
		return due, true
	case <-ctx.Done():
		return due, false
	}
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func (l *load) post(ctx context.Context, c *http.Client, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("POST %s: %s", l.url, resp.Status)
	}
	return took, nil
}
