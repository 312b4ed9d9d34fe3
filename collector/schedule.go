package collector

import "time"

// schedule keeps a loop's sample timestamps on its intended grid. A timer
// wakes a millisecond or two late now and then; stored as is, that jitter
// costs the head's delta-of-delta timestamp encoding two bytes a sample
// instead of one bit, nearly doubling a counter's chunk. Like Prometheus
// (--scrape.timestamp-tolerance), a scrape within the tolerance of its
// slot is stamped with the slot.
type schedule struct {
	interval  time.Duration
	tolerance time.Duration // 0: timestamps are taken as they come
	slot      time.Time     // the grid's latest point; zero before the first scrape
}

func newSchedule(interval, tolerance time.Duration) schedule {
	// As Prometheus: never more than 1 % of the interval.
	return schedule{interval: interval, tolerance: min(interval/100, tolerance)}
}

// at returns the timestamp of a scrape that starts now.
func (s *schedule) at(now time.Time) time.Time {
	now = now.Round(0) // wall clock: Sub and Add must not mix in the monotonic reading
	if s.tolerance <= 0 {
		return now
	}
	if s.slot.IsZero() {
		s.slot = now
	}
	// A skipped tick moves the grid by more than one interval.
	for now.Sub(s.slot) >= s.interval {
		s.slot = s.slot.Add(s.interval)
	}
	if now.Sub(s.slot) <= s.tolerance {
		return s.slot
	}
	return now
}
