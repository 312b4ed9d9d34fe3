package collector

import (
	"cmp"
	"slices"
	"sync"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

// MetricMetadata is what a target said of one metric family in its
// # TYPE, # HELP and # UNIT lines.
type MetricMetadata struct {
	Metric string
	Type   model.MetricType
	Help   string
	Unit   string
}

// TargetMetadata is the metadata one target exposed, for the metadata APIs.
type TargetMetadata struct {
	Labels     labels.Labels
	ScrapePool string
	Metrics    []MetricMetadata // by metric name
}

// metadataKeep is how many scrapes a family's metadata outlives its last
// appearance, as Prometheus's scrape cache keeps it: a target that briefly
// drops a metric does not make Grafana's help text flicker.
const metadataKeep = 10

// metadataCache holds one target's metadata. The scrape loop writes it,
// API requests read it, hence the lock.
type metadataCache struct {
	mtx     sync.Mutex
	entries map[string]*metaEntry
}

type metaEntry struct {
	MetricMetadata
	lastIter uint64
}

func newMetadataCache() *metadataCache {
	return &metadataCache{entries: map[string]*metaEntry{}}
}

// observe records the metadata line the parser stands on, if it is one,
// and says whether it was. Strings are only copied when they changed, so
// a steady target's metadata costs no allocation per scrape.
func (c *metadataCache) observe(p textparse.Parser, e textparse.Entry, iter uint64) bool {
	if e != textparse.EntryType && e != textparse.EntryHelp && e != textparse.EntryUnit {
		return false
	}
	c.mtx.Lock()
	defer c.mtx.Unlock()
	switch e {
	case textparse.EntryType:
		name, typ := p.Type()
		c.entry(name, iter).Type = typ
	case textparse.EntryHelp:
		name, help := p.Help()
		if en := c.entry(name, iter); en.Help != string(help) {
			en.Help = string(help)
		}
	case textparse.EntryUnit:
		name, unit := p.Unit()
		if en := c.entry(name, iter); en.Unit != string(unit) {
			en.Unit = string(unit)
		}
	}
	return true
}

// entry returns the family's entry, marked as seen in this scrape; the
// caller holds the lock.
func (c *metadataCache) entry(name []byte, iter uint64) *metaEntry {
	en, ok := c.entries[string(name)] // no allocation for a known family
	if !ok {
		en = &metaEntry{MetricMetadata: MetricMetadata{Metric: string(name), Type: model.MetricTypeUnknown}}
		c.entries[en.Metric] = en
	}
	en.lastIter = iter
	return en
}

// expire forgets families not seen for metadataKeep successful scrapes.
func (c *metadataCache) expire(iter uint64) {
	c.mtx.Lock()
	defer c.mtx.Unlock()
	for name, en := range c.entries {
		if iter-en.lastIter > metadataKeep {
			delete(c.entries, name)
		}
	}
}

func (c *metadataCache) list() []MetricMetadata {
	c.mtx.Lock()
	out := make([]MetricMetadata, 0, len(c.entries))
	for _, en := range c.entries {
		out = append(out, en.MetricMetadata)
	}
	c.mtx.Unlock()
	slices.SortFunc(out, func(a, b MetricMetadata) int { return cmp.Compare(a.Metric, b.Metric) })
	return out
}
