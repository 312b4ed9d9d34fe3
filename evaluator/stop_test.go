package evaluator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/gatewarden/gatewarden/collector"
)

// stallingQueryable is a store whose every select waits until the query
// is cancelled, as a query over a large head under load takes minutes.
type stallingQueryable struct {
	storage.Queryable
	entered chan struct{}
}

func (q stallingQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	inner, err := q.Queryable.Querier(mint, maxt)
	return stallingQuerier{inner, q.entered}, err
}

type stallingQuerier struct {
	storage.Querier
	entered chan struct{}
}

func (q stallingQuerier) Select(ctx context.Context, _ bool, _ *storage.SelectHints, _ ...*labels.Matcher) storage.SeriesSet {
	select {
	case q.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return storage.ErrSeriesSet(ctx.Err())
}

// TestStopDoesNotWaitForEvaluations: a stop while a group of 1,000 rules
// is stalled in its queries cancels them and returns at once, instead of
// waiting for each query in turn (minutes under load, once SIGTERM was
// ignored for more than three).
func TestStopDoesNotWaitForEvaluations(t *testing.T) {
	var b strings.Builder
	b.WriteString("groups:\n  - name: heavy\n    rules:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "      - alert: R%d\n        expr: sum(rate(x[5m])) > %d\n", i, i)
	}
	h := newHarness(t, b.String())
	h.add(at(0), map[string]float64{`x{i="a"}`: 1})
	entered := make(chan struct{}, 1)
	h.queryable = stallingQueryable{h.db, entered}
	h.m = h.manager()

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- h.m.Run(ctx) }()
	// Run starts the groups; a scrape of x triggers the evaluation.
	deadline := time.After(30 * time.Second)
	for triggered := false; !triggered; {
		h.m.OnScrape(collector.Event{Time: at(1), Metrics: []string{"x"}})
		select {
		case <-entered:
			triggered = true
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("the evaluation never reached the store")
		}
	}
	cancel()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stop waits for the stalled evaluation")
	}
	st := h.m.Groups()[0].Status()
	if len(st.Rules) != 1000 {
		t.Fatalf("%d rule statuses", len(st.Rules))
	}
}
