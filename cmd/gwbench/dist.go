package main

import (
	"math"
	"slices"
	"time"
)

// Dist is a latency distribution as the report keeps it: quantiles, not
// samples, so two runs compare and a chart draws from the JSON alone.
type Dist struct {
	Key     string  `json:"key"`
	Size    int     `json:"size,omitempty"`
	N       int     `json:"n"`
	P50     float64 `json:"p50_seconds"`
	P90     float64 `json:"p90_seconds"`
	P99     float64 `json:"p99_seconds"`
	Max     float64 `json:"max_seconds"`
	Context string  `json:"context,omitempty"`
}

// ID names the distribution as its figures are named.
func (d Dist) ID() string { return Figure{Key: d.Key, Size: d.Size}.ID() }

// newDist summarises samples; it sorts them in place.
func newDist(key string, size int, samples []time.Duration) Dist {
	slices.Sort(samples)
	d := Dist{Key: key, Size: size, N: len(samples)}
	if len(samples) == 0 {
		return d
	}
	d.P50, d.P90, d.P99 = quantile(samples, 0.5), quantile(samples, 0.9), quantile(samples, 0.99)
	d.Max = samples[len(samples)-1].Seconds()
	return d
}

// quantile is the nearest-rank quantile of sorted samples: a value that was
// measured, never one interpolated between two.
func quantile(sorted []time.Duration, q float64) float64 {
	rank := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(rank, len(sorted)-1))].Seconds()
}

// figures are the distribution's quantiles as table rows.
func (d Dist) figures() []Figure {
	return []Figure{
		{Key: d.Key + ".p50", Size: d.Size, Value: d.P50, Unit: "s", Context: d.Context},
		{Key: d.Key + ".p99", Size: d.Size, Value: d.P99, Unit: "s", Context: d.Context},
	}
}

func (r *Report) addDist(d Dist) {
	r.Latencies = append(r.Latencies, d)
	for _, f := range d.figures() {
		r.add(f)
	}
}
