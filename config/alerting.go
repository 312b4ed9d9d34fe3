package config

import (
	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// AlertingConfig says where alerts go besides the in-process receiver:
// external Alertmanagers, as in Prometheus's alerting section.
type AlertingConfig struct {
	Alertmanagers []*AlertmanagerConfig `yaml:"alertmanagers"`
}

// AlertmanagerConfig is one set of Alertmanagers receiving every alert.
type AlertmanagerConfig struct {
	StaticConfigs []StaticConfig `yaml:"static_configs"`
	Scheme        string         `yaml:"scheme"`
	PathPrefix    string         `yaml:"path_prefix"`
	Timeout       Duration       `yaml:"timeout"`
	APIVersion    string         `yaml:"api_version"`
	BasicAuth     *BasicAuth     `yaml:"basic_auth"`
	Authorization *Authorization `yaml:"authorization"`
	TLSConfig     TLSConfig      `yaml:"tls_config"`
}

// validate is filled in with the notifier; the loader calls it with the
// path of the alerting section.
func (c *AlertingConfig) validate(path ...any) []yamlfile.PathError { return nil }
