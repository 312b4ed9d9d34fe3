package feishu

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
)

// A burst is paced to 5 a second, then to 100 a minute, with the waits
// computed exactly: 5 at once, one second, 5 more … until the minute's 100
// are spent, then the 101st waits for the first to leave the minute.
func TestRateLimitSequential(t *testing.T) {
	s := newStandIn(t, "k")
	c := newClock()
	n := notifier(t, s, Config{}, c)
	for i := range 105 {
		if _, err := n.Notify(context.Background(), msg(1, "firing", "", "en")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	var want []time.Duration
	for range 19 {
		want = append(want, time.Second) // sends 6..100, in 19 more seconds
	}
	want = append(want, 41*time.Second) // send 101: the minute from send 1 ends at 60 s
	if got := c.sleeps(); !slices.Equal(got, want) {
		t.Errorf("slept %v,\nwant %v", got, want)
	}
	if got := len(s.received()); got != 105 {
		t.Errorf("stand-in received %d, want 105", got)
	}
}

// Two Notifiers for one bot share its limit through the registry; another
// bot has its own.
func TestRateLimitSharedPerBot(t *testing.T) {
	s := newStandIn(t, "k")
	c := newClock()
	withoutOwnLimiter := func(u string) *Notifier {
		cfg := Config{URL: commoncfg.Secret(u), Secret: "k"}
		n, err := New(&cfg, nil, nil, WithClock(c.Now), WithSleep(c.Sleep))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	s.now = c.Now
	a, b := withoutOwnLimiter(s.URL()), withoutOwnLimiter(s.URL())
	other := withoutOwnLimiter(s.srv.URL + "/open-apis/bot/v2/hook/another-bot-of-" + s.token)
	for i, n := range []*Notifier{a, b, a, b, a, other, other} {
		n.Notify(context.Background(), msg(1, "firing", "", "en")) // other's token is refused; it still counts
		if len(c.sleeps()) != 0 {
			t.Fatalf("send %d waited", i)
		}
	}
	if _, err := b.Notify(context.Background(), msg(1, "firing", "", "en")); err != nil {
		t.Fatal(err)
	}
	if got := c.sleeps(); !slices.Equal(got, []time.Duration{time.Second}) {
		t.Errorf("the bot's 6th send slept %v, want [1s]", got)
	}
}

func TestRateLimitGivesUp(t *testing.T) {
	full := func() *Limiter {
		l := NewLimiter()
		now := func() time.Time { return start }
		for range PerSecond {
			l.reserve(now)
		}
		return l
	}
	clock := func() *fakeClock { return &fakeClock{t: start} }

	t.Run("canceled while waiting", func(t *testing.T) {
		s := newStandIn(t, "k")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := clock()
		sleep := func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }
		n := notifier(t, s, Config{}, c, WithLimiter(full()), WithSleep(sleep))
		retry, err := n.Notify(ctx, msg(1, "firing", "", "en"))
		if !retry || !errors.Is(err, context.Canceled) || len(s.received()) != 0 {
			t.Fatalf("Notify = %v, %v; want a retry and nothing sent", retry, err)
		}
	})

	t.Run("slot after the deadline", func(t *testing.T) {
		s := newStandIn(t, "k")
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		c := clock()
		slept := false
		sleep := func(context.Context, time.Duration) error { slept = true; return nil }
		n := notifier(t, s, Config{}, c, WithLimiter(full()), WithSleep(sleep))
		retry, err := n.Notify(ctx, msg(1, "firing", "", "en"))
		if !retry || !errors.Is(err, context.DeadlineExceeded) || slept || len(s.received()) != 0 {
			t.Fatalf("Notify = %v, %v (slept %v); want an immediate retry", retry, err, slept)
		}
	})
}

func TestLimiterConcurrentReserve(t *testing.T) {
	l := NewLimiter()
	now := func() time.Time { return start }
	var granted atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, d := l.reserve(now); d == 0 {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if granted.Load() != PerSecond {
		t.Errorf("%d granted at one instant, want %d", granted.Load(), PerSecond)
	}
}

// Concurrent Notifies on one bot, with the fake clock advanced by whoever
// sleeps: every send is delivered and no second holds more than five.
func TestRateLimitConcurrent(t *testing.T) {
	s := newStandIn(t, "k")
	c := newClock()
	l := NewLimiter()
	n := notifier(t, s, Config{}, c, WithLimiter(l))
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if _, err := n.Notify(context.Background(), msg(1, "firing", "", "en")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(s.received()); got != 40 {
		t.Fatalf("received %d, want 40", got)
	}
	times := l.sent[:l.n]
	if !slices.IsSortedFunc(times, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Fatal("send times out of order")
	}
	for i := PerSecond; i < len(times); i++ {
		if d := times[i].Sub(times[i-PerSecond]); d < time.Second {
			t.Errorf("sends %d and %d only %s apart", i-PerSecond, i, d)
		}
	}
}

func TestLimiterClockBackwards(t *testing.T) {
	l := NewLimiter()
	for range PerSecond {
		l.reserve(func() time.Time { return start })
	}
	if _, d := l.reserve(func() time.Time { return start.Add(-time.Hour) }); d != time.Second {
		t.Errorf("a clock an hour back waits %s, want at most the window (1s)", d)
	}
}

func TestLimiterKey(t *testing.T) {
	parse := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	if limiterFor(parse("https://open.feishu.cn/hook/a")) != limiterFor(parse("http://open.feishu.cn/hook/a?x=1")) {
		t.Error("one bot, two limiters")
	}
	if limiterFor(parse("https://open.feishu.cn/hook/a")) == limiterFor(parse("https://open.feishu.cn/hook/b")) {
		t.Error("two bots, one limiter")
	}
}

func TestDefaultSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep on a canceled context = %v", err)
	}
	if err := sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleep = %v", err)
	}
}
