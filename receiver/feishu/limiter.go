package feishu

import (
	"context"
	"crypto/sha256"
	"net/url"
	"sync"
	"time"
)

// Feishu's limits for one custom bot. A message beyond them is refused
// with code 9499 or 11232 (and the bot may be muted for a while), so
// gatewarden keeps under them instead of relying on retries.
const (
	PerSecond = 5
	PerMinute = 100
)

// maxPause bounds a pause Feishu asks for (Retry-After) and any wait a
// clock stepping backwards could produce.
const maxPause = time.Minute

// Limiter keeps one bot under Feishu's limits: at most PerSecond sends in
// any second and PerMinute in any minute (a sliding window over the last
// PerMinute send times). It only computes waits; the caller sleeps, so a
// test drives it with a fake clock. It is safe for concurrent use.
type Limiter struct {
	mu     sync.Mutex
	sent   [PerMinute]time.Time // ring of the most recent sends
	n      int                  // filled entries of sent
	head   int                  // where the next send is written
	paused time.Time            // no send before this: Feishu said slow down
}

// NewLimiter returns a limiter with no sends recorded.
func NewLimiter() *Limiter { return &Limiter{} }

// reserve takes a slot and returns when, if both windows have room.
// Otherwise it takes nothing and returns how long until a slot may be free;
// the caller waits and asks again, since another sender may get there first.
// The clock is read under the lock, so the ring stays in time order.
func (l *Limiter) reserve(clock func() time.Time) (time.Time, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := clock()
	wait := l.window(now, PerSecond, time.Second)
	wait = max(wait, l.window(now, PerMinute, time.Minute))
	if now.Before(l.paused) {
		wait = max(wait, min(l.paused.Sub(now), maxPause))
	}
	if wait > 0 {
		return now, wait
	}
	l.sent[l.head] = now
	l.head = (l.head + 1) % len(l.sent)
	l.n = min(l.n+1, len(l.sent))
	return now, 0
}

// window is how long until fewer than limit sends fall within span of now.
func (l *Limiter) window(now time.Time, limit int, span time.Duration) time.Duration {
	if l.n < limit {
		return 0
	}
	oldest := l.sent[(l.head-limit+len(l.sent))%len(l.sent)]
	wait := oldest.Add(span).Sub(now)
	return min(max(wait, 0), span)
}

// pause holds every send for d from now, after Feishu refused one for
// going too fast: its count may include senders other than this process.
func (l *Limiter) pause(now time.Time, d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := now.Add(min(d, maxPause)); until.After(l.paused) {
		l.paused = until
	}
}

// bots holds one Limiter per bot for the whole process. Feishu counts per
// bot, not per channel: two channels (one from the config file, one from the
// store) may name the same bot, and a reload replaces Notifiers but must not
// reset the count. A registry gives both without wiring a Limiter through
// every constructor; WithLimiter overrides it. The key is a hash, so the
// registry holds no token; entries are a few KB and bots are few.
var bots = struct {
	sync.Mutex
	m map[[sha256.Size]byte]*Limiter
}{m: map[[sha256.Size]byte]*Limiter{}}

func limiterFor(u *url.URL) *Limiter {
	// Scheme and query do not change which bot it is.
	key := sha256.Sum256([]byte(u.Host + u.Path))
	bots.Lock()
	defer bots.Unlock()
	l, ok := bots.m[key]
	if !ok {
		l = NewLimiter()
		bots.m[key] = l
	}
	return l
}

// sleep is the default wait: a timer that ctx can cut short.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
