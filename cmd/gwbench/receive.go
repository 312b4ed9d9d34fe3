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
	d.Context = ctxt
	r.addDist(d)
	r.add(Figure{Key: key + ".rss", Size: batch, Value: rss, Unit: "B", Context: ctxt})
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
// either a number of requests or for a duration.
type load struct {
	url      string
	bodies   [][]byte
	clients  int
	requests int
	duration time.Duration
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
				took, err := l.post(ctx, client, l.bodies[i%len(l.bodies)])
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
