//go:build tools

// Package tools pins promtool and Prometheus itself: `go build -C
// tools/prometheus github.com/prometheus/prometheus/cmd/promtool` (or
// cmd/prometheus, for gwbench's rules-prom scenario) builds them.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
