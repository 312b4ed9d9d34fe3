package receiver

import (
	"hash/maphash"
	"sync"
	"time"
)

// Episodes names the episode of every alert entering the receiver, before
// the recorder writes it and the dispatcher groups it, so both agree on it
// and a restart finds it in the store. As Alertmanager merges an alert
// with the active one of the same fingerprint, a post of an alert whose
// episode is open continues that episode whatever its startsAt (a sender
// that restarted and lost its start time does not make a new alert); a
// firing post of an alert with no open episode opens one at its startsAt.
// Only open episodes are kept: one entry per firing alert.
type Episodes struct {
	seed   maphash.Seed
	shards [16]episodeShard
}

type episodeShard struct {
	mu   sync.Mutex
	open map[string]openEpisode
}

// openEpisode is an episode's start and its sender's end (unix ns); 0 as
// end: open until resolved explicitly.
type openEpisode struct{ start, end int64 }

// NewEpisodes returns an empty tracker.
func NewEpisodes() *Episodes {
	e := &Episodes{seed: maphash.MakeSeed()}
	for i := range e.shards {
		e.shards[i].open = map[string]openEpisode{}
	}
	return e
}

func (e *Episodes) shard(fp string) *episodeShard {
	return &e.shards[maphash.String(e.seed, fp)%uint64(len(e.shards))]
}

// Assign sets each alert's StartsAt to its episode's start and keeps the
// open episodes up to date.
func (e *Episodes) Assign(alerts []Alert, now time.Time) {
	for i := range alerts {
		a := &alerts[i]
		// The store keeps microseconds: an episode read back after a
		// restart must be the one named before it.
		a.StartsAt = a.StartsAt.UTC().Truncate(time.Microsecond)
		sh := e.shard(a.Fingerprint())
		sh.mu.Lock()
		cur, ok := sh.open[a.fp]
		if ok && cur.end != 0 && cur.end <= now.UnixNano() {
			ok = false // it ended without a re-post: expired
			delete(sh.open, a.fp)
		}
		firing := a.firing(now)
		switch {
		case ok && firing:
			a.StartsAt = time.Unix(0, cur.start).UTC()
			sh.open[a.fp] = openEpisode{cur.start, unixNano(a.EndsAt)}
		case ok:
			a.StartsAt = time.Unix(0, cur.start).UTC()
			delete(sh.open, a.fp)
		case firing:
			sh.open[a.fp] = openEpisode{a.StartsAt.UnixNano(), unixNano(a.EndsAt)}
		}
		sh.mu.Unlock()
	}
}

// Open records an episode the store says is open, at a restart.
func (e *Episodes) Open(fp string, start, end time.Time) {
	sh := e.shard(fp)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.open[fp]; !ok {
		sh.open[fp] = openEpisode{start.UnixNano(), unixNano(end)}
	}
}

// Sweep forgets the episodes that expired by now.
func (e *Episodes) Sweep(now time.Time) {
	t := now.UnixNano()
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		for fp, o := range sh.open {
			if o.end != 0 && o.end <= t {
				delete(sh.open, fp)
			}
		}
		sh.mu.Unlock()
	}
}

// Len is how many episodes are open.
func (e *Episodes) Len() int {
	n := 0
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		n += len(sh.open)
		sh.mu.Unlock()
	}
	return n
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
