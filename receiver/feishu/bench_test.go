package feishu

import (
	"context"
	"testing"
)

// BenchmarkNotify sends a 100-alert card, signed, to a local stand-in. The
// limiter runs for real against the fake clock, whose sleeps cost nothing.
func BenchmarkNotify(b *testing.B) {
	s := newStandIn(b, "bench-secret")
	n := notifier(b, s, Config{}, newClock())
	m := msg(100, "firing", "critical", "en")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Notify(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
