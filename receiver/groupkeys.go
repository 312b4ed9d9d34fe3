package receiver

import (
	"sync"
	"sync/atomic"
)

// groupKeys are the keys (route id, group key) of the dispatcher's groups
// and of the groups ingest admitted alerts for, which the dispatcher has
// not routed yet: counting both keeps max_aggregation_groups across
// concurrent requests. A key reserved for alerts that never arrive (the
// store refused them) stays until the next plan; a sender's retry reuses
// it.
type groupKeys struct {
	mu sync.Mutex // orders reservations; the dispatcher adds without it
	m  sync.Map
	n  atomic.Int64
}

func (k *groupKeys) has(key string) bool {
	_, ok := k.m.Load(key)
	return ok
}

func (k *groupKeys) add(key string) {
	if _, loaded := k.m.LoadOrStore(key, struct{}{}); !loaded {
		k.n.Add(1)
	}
}

func (k *groupKeys) remove(key string) {
	if _, loaded := k.m.LoadAndDelete(key); loaded {
		k.n.Add(-1)
	}
}

func (k *groupKeys) clear() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m.Clear()
	k.n.Store(0)
}

// reserve adds the keys unless that would make more than max; it reports
// whether it did.
func (k *groupKeys) reserve(keys []string, max int) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	fresh := 0
	for _, key := range keys {
		if !k.has(key) {
			fresh++
		}
	}
	if fresh > 0 && k.n.Load()+int64(fresh) > int64(max) {
		return false
	}
	for _, key := range keys {
		k.add(key)
	}
	return true
}
