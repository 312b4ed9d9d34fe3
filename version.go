// Package gatewarden holds what belongs to the whole module: its version.
package gatewarden

import (
	_ "embed"
	"strings"
)

//go:embed VERSION
var versionFile string

// Version is the VERSION file's semantic version. The Makefile stamps the
// binary with it (or the release tag it is built on); this is what a plain
// `go build` reports, so a binary never calls itself "".
var Version = strings.TrimSpace(versionFile)
