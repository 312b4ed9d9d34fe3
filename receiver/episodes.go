package receiver

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
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
	open   atomic.Int64 // entries in the shards: the alerts firing
	bytes  atomic.Int64 // their label and annotation bytes (alertSize)
}

type episodeShard struct {
	mu   sync.Mutex
	open map[string]openEpisode
}

// openEpisode is an episode's start and its sender's end (unix ns; 0:
// open until resolved explicitly), and the alert's size as last posted.
type openEpisode struct{ start, end, size int64 }

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
			e.forget(sh, a.fp)
		}
		firing := a.firing(now)
		switch {
		case ok && firing:
			a.StartsAt = time.Unix(0, cur.start).UTC()
			size := int64(alertSize(*a))
			sh.open[a.fp] = openEpisode{cur.start, unixNano(a.EndsAt), size}
			e.bytes.Add(size - cur.size)
		case ok:
			// A resolution of the open episode; an end before its start
			// (a sender's clock, or a stale resolution) ends it at once,
			// as Alertmanager lets a later resolution win.
			a.StartsAt = time.Unix(0, cur.start).UTC()
			if a.EndsAt.Before(a.StartsAt) {
				a.EndsAt = a.StartsAt
			}
			e.forget(sh, a.fp)
		case firing:
			e.add(sh, a.fp, openEpisode{a.StartsAt.UnixNano(), unixNano(a.EndsAt), int64(alertSize(*a))})
		}
		sh.mu.Unlock()
	}
}

// add and forget keep the entries and the totals together; the caller
// holds sh.mu.
func (e *Episodes) add(sh *episodeShard, fp string, o openEpisode) {
	sh.open[fp] = o
	e.open.Add(1)
	e.bytes.Add(o.size)
}

func (e *Episodes) forget(sh *episodeShard, fp string) {
	e.bytes.Add(-sh.open[fp].size)
	delete(sh.open, fp)
	e.open.Add(-1)
}

// Open records an episode of a that the store says is open, at a restart
// or when another receiver sharing the store took it.
func (e *Episodes) Open(a Alert) {
	fp := a.Fingerprint()
	sh := e.shard(fp)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.open[fp]; !ok {
		e.add(sh, fp, openEpisode{a.StartsAt.UnixNano(), unixNano(a.EndsAt), int64(alertSize(a))})
	}
}

// Close forgets the episode of fp that starts at start, if it is still
// open: the dispatcher calls it with each resolution it routes, as a
// resync may have reopened from the store an episode whose resolution was
// assigned but not yet recorded.
func (e *Episodes) Close(fp string, start time.Time) {
	sh := e.shard(fp)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if cur, ok := sh.open[fp]; ok && cur.start == start.UnixNano() {
		e.forget(sh, fp)
	}
}

// IsOpen reports whether fp has an episode firing at now.
func (e *Episodes) IsOpen(fp string, now time.Time) bool {
	sh := e.shard(fp)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur, ok := sh.open[fp]
	return ok && (cur.end == 0 || cur.end > now.UnixNano())
}

// Sweep forgets the episodes that expired by now.
func (e *Episodes) Sweep(now time.Time) {
	t := now.UnixNano()
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		for fp, o := range sh.open {
			if o.end != 0 && o.end <= t {
				e.forget(sh, fp)
			}
		}
		sh.mu.Unlock()
	}
}

// Len is how many episodes are open (some may have expired since the last
// Sweep), and Bytes what their alerts take by alertSize.
func (e *Episodes) Len() int { return int(e.open.Load()) }

func (e *Episodes) Bytes() int64 { return e.bytes.Load() }

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
