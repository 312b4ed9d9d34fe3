package main

import "testing"

func TestGCPercent(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		gogc, headroom, live int64
		want                 int
	}{
		{25, 16 * mb, 30 * mb, 25},  // small heap: GOGC's room
		{25, 16 * mb, 100 * mb, 16}, // 16 MB of room
		{25, 16 * mb, 400 * mb, 10}, // never below 10 %
		{25, 0, 400 * mb, 25},       // headroom off
		{75, 16 * mb, 0, 75},        // nothing measured yet
		{5, 16 * mb, 100 * mb, 5},   // a GOGC below the floor stays
	} {
		if got := percent(tc.gogc, tc.headroom, tc.live); got != tc.want {
			t.Errorf("percent(%d, %d MB, %d MB) = %d, want %d", tc.gogc, tc.headroom/mb, tc.live/mb, got, tc.want)
		}
	}
}
