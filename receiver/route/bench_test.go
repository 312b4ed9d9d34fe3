package route

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
)

// benchTree is 50 routes: the root, 7 teams, 6 routes under each with
// equality, regex and negative matchers, the kinds real trees mix.
func benchTree() string {
	var b strings.Builder
	b.WriteString("route:\n  receiver: r\n  group_by: [alertname, master]\n  routes:\n")
	for t := range 7 {
		fmt.Fprintf(&b, "    - matchers: ['team=\"t%d\"']\n      continue: %v\n      routes:\n", t, t%3 == 0)
		for _, m := range []string{
			`severity="critical", env="prod"`, `severity="critical"`, `alertname=~"Gateway(Budget|Spend).*"`,
			`model=~"gpt-4.*|claude-.*", code=~"5.."`, `env!~"dev|test"`, `severity!="info"`,
		} {
			fmt.Fprintf(&b, "        - matchers: ['%s']\n", m)
		}
	}
	b.WriteString("receivers: [{name: r}]\n")
	return b.String()
}

// benchAlerts are n label sets drawn from a fixed seed, so every run
// routes the same alerts.
func benchAlerts(n int) []model.LabelSet {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vs ...string) model.LabelValue { return model.LabelValue(vs[rng.IntN(len(vs))]) }
	out := make([]model.LabelSet, n)
	for i := range out {
		out[i] = model.LabelSet{
			"alertname": pick("GatewayBudgetExceeded", "GatewaySpendHigh", "HighErrorRate", "HighLatency", "Down"),
			"team":      model.LabelValue(fmt.Sprintf("t%d", rng.IntN(9))),
			"severity":  pick("critical", "warning", "info"),
			"env":       pick("prod", "staging", "dev", "test"),
			"model":     pick("gpt-4o", "claude-3", "llama-3"),
			"code":      pick("200", "429", "500", "503"),
			"master":    model.LabelValue(fmt.Sprintf("m%d", rng.IntN(100))),
			"instance":  model.LabelValue(fmt.Sprintf("10.0.0.%d:9300", rng.IntN(50))),
		}
	}
	return out
}

func BenchmarkMatch(b *testing.B) {
	root := mustLoad(b, benchTree())
	n := 0
	root.Walk(func(*Route) { n++ })
	if n != 50 {
		b.Fatalf("tree has %d routes, want 50", n)
	}
	sets := benchAlerts(10000)
	b.Run("match", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			root.Match(sets[i%len(sets)])
		}
	})
	// What the receiver does per alert: route it and name its group.
	b.Run("match+groupkey", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			lset := sets[i%len(sets)]
			for _, r := range root.Match(lset) {
				_ = r.GroupKey(lset)
			}
		}
	})
}
