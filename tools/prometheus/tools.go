//go:build tools

// Package tools pins promtool: `go build -C tools/prometheus
// github.com/prometheus/prometheus/cmd/promtool` builds it.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
