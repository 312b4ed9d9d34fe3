package config

import (
	"os"
	"path/filepath"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// Duration and Bytes are the config's located-error scalar types.
type (
	Duration = yamlfile.Duration
	Bytes    = yamlfile.Bytes
)

// LoadFile reads, defaults and validates a config file.
func LoadFile(filename string) (*Config, error) {
	b, err := os.ReadFile(filename)
	if err != nil {
		return nil, err
	}
	return Load(b, filename)
}

// Load parses a config; filename names it in errors and anchors its relative
// paths (pass "" for paths relative to the working directory).
func Load(b []byte, filename string) (*Config, error) {
	cfg := &Config{file: filename}
	doc, err := yamlfile.Decode(b, filename, cfg)
	if err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	cfg.resolvePaths(filepath.Dir(filename))
	if errs := doc.Locate(cfg.validate()); len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}
