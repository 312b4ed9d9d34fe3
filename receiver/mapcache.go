package receiver

import (
	"cmp"
	"slices"
	"sync"

	"github.com/prometheus/common/model"
)

// mapCacheSize bounds a mapCache: enough for the alerts of a few senders
// re-posting; with 100k active alerts the receiver held 7 MiB more RSS
// with the cache than without (docs/benchmarks.md). mapCacheBytes bounds
// what its maps hold, whatever the senders post, and a set larger than
// mapCacheLargest is not kept: big annotation sets are rare, and a flood
// of them must not fill the cache.
const (
	mapCacheSize    = 1 << 15
	mapCacheBytes   = 16 << 20
	mapCacheLargest = 4 << 10
)

// mapCache hands out one immutable map per distinct label or annotation
// set seen recently. Senders re-post the same alerts every few seconds;
// building a fresh map and strings for each was most of ingest's garbage,
// and the collector's time showed as the tail of ingest latency. Maps from
// it are shared and must never be written.
type mapCache struct {
	mu    sync.RWMutex
	m     map[uint64]cachedMap
	bytes int // of the names and values held
}

type cachedMap struct {
	m  map[string]string
	fp string // the set's fingerprint, as Alertmanager's of a label set
}

// pair is a member read from JSON: an interned name and its value's
// bytes in the decoder's arena.
type pair struct {
	name       string
	start, end int
}

// get returns the map of pairs (sorted by name, without repeats), making
// and keeping it if it is new.
func (c *mapCache) get(pairs []pair, arena []byte) cachedMap {
	sig := signature(pairs, arena)
	c.mu.RLock()
	hit, ok := c.m[sig]
	c.mu.RUnlock()
	if ok && equal(hit.m, pairs, arena) {
		return hit
	}
	m := make(map[string]string, len(pairs))
	size := 0
	for _, p := range pairs {
		m[p.name] = string(arena[p.start:p.end])
		size += len(p.name) + p.end - p.start
	}
	v := cachedMap{m, model.Fingerprint(sig).String()}
	if size > mapCacheLargest {
		return v
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= mapCacheSize || c.bytes+size > mapCacheBytes {
		c.m, c.bytes = make(map[uint64]cachedMap, mapCacheSize/4), 0 // a bound, not a cache policy
	}
	c.m[sig] = v
	c.bytes += size
	c.mu.Unlock()
	return v
}

// signature is model.LabelsToSignature of the pairs, so for labels it is
// Alertmanager's fingerprint.
func signature(pairs []pair, arena []byte) uint64 {
	sum := uint64(14695981039346656037) // FNV-1a's offset basis
	for _, p := range pairs {
		sum = hashAdd(sum, p.name)
		sum = hashAdd(sum, arena[p.start:p.end])
	}
	return sum
}

// hashAdd adds b and the separator to an FNV-1a sum.
func hashAdd[T string | []byte](sum uint64, b T) uint64 {
	const prime = 1099511628211
	for i := range len(b) {
		sum = (sum ^ uint64(b[i])) * prime
	}
	return (sum ^ uint64(model.SeparatorByte)) * prime
}

func equal(m map[string]string, pairs []pair, arena []byte) bool {
	if len(m) != len(pairs) {
		return false
	}
	for _, p := range pairs {
		if v, ok := m[p.name]; !ok || v != string(arena[p.start:p.end]) {
			return false
		}
	}
	return true
}

// normalizePairs sorts pairs by name and keeps the last of repeated names,
// as a JSON object read into a map does.
func normalizePairs(pairs []pair) []pair {
	slices.SortStableFunc(pairs, func(a, b pair) int { return cmp.Compare(a.name, b.name) })
	out := pairs[:0]
	for i, p := range pairs {
		if i+1 < len(pairs) && pairs[i+1].name == p.name {
			continue
		}
		out = append(out, p)
	}
	return out
}
