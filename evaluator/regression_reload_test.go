package evaluator

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatewarden/gatewarden/config"
)

// An API handler holding a Group from before a reload reads the targets map
// the new group now writes.
func TestRegressionOldGroupSharesTargets(t *testing.T) {
	h := newHarness(t, plainRule)
	h.add(at(0), map[string]float64{`x{i="a"}`: 20})
	h.eval(at(0))
	old := h.m.Groups()[0]
	cfg, _ := config.Load([]byte("global: {evaluation_interval: 10s}\nrule_files: [rules.yml]\n"), filepath.Join(h.dir, "gatewarden.yml"))
	if err := h.m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	nw := h.m.Groups()[0]
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 200 {
			_ = old.Status()
		}
	})
	for i := 1; i < 200; i++ {
		h.add(at(i), map[string]float64{`x{i="a"}`: 20, `x{i="` + string(rune('b'+i%20)) + `"}`: 20})
		nw.Eval(context.Background(), at(i), h.m)
	}
	wg.Wait()
}
