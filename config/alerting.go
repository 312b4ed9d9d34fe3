package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// DefaultAlertmanagerTimeout is Prometheus's: long enough for a loaded
// Alertmanager, short enough that one stuck peer does not hold a batch back
// for the others for long.
const DefaultAlertmanagerTimeout = 10 * time.Second

// AlertmanagerAPIV2 is the only push API current Alertmanagers serve; v1
// was removed in Alertmanager 0.27.
const AlertmanagerAPIV2 = "v2"

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

// HTTPClientConfig translates auth and TLS exactly as a scrape config's, so
// both kinds of client re-read *_file secrets per request.
func (c *AlertmanagerConfig) HTTPClientConfig() commoncfg.HTTPClientConfig {
	return httpClientConfig(c.BasicAuth, c.Authorization, c.TLSConfig)
}

// resolvePaths anchors the section's secret and TLS files at the config's
// directory; join is the loader's.
func (c *AlertingConfig) resolvePaths(join func(*string)) {
	for _, am := range c.Alertmanagers {
		if am != nil {
			resolveClientPaths(join, am.BasicAuth, am.Authorization, &am.TLSConfig)
		}
	}
}

func (c *AlertingConfig) applyDefaults() {
	for _, am := range c.Alertmanagers {
		if am == nil {
			continue
		}
		if am.Scheme == "" {
			am.Scheme = "http"
		}
		if am.Timeout == 0 {
			am.Timeout = Duration(DefaultAlertmanagerTimeout)
		}
		if am.APIVersion == "" {
			am.APIVersion = AlertmanagerAPIV2
		}
	}
}

// validate also applies the section's defaults: the loader calls it after
// decoding and it is the section's only hook there.
func (c *AlertingConfig) validate(path ...any) []yamlfile.PathError {
	c.applyDefaults()
	var errs []yamlfile.PathError
	for i, am := range c.Alertmanagers {
		at := func(p ...any) []any { return slices.Concat(path, []any{"alertmanagers", i}, p) }
		if am == nil {
			errs = append(errs, yamlfile.At("empty alertmanager config", at()...))
			continue
		}
		errs = append(errs, am.validate(at)...)
	}
	return errs
}

func (c *AlertmanagerConfig) validate(at func(...any) []any) []yamlfile.PathError {
	var errs []yamlfile.PathError
	add := func(msg string, p ...any) { errs = append(errs, yamlfile.At(msg, at(p...)...)) }
	if c.Scheme != "http" && c.Scheme != "https" {
		add(fmt.Sprintf("scheme must be http or https, not %q", c.Scheme), "scheme")
	}
	if c.APIVersion != AlertmanagerAPIV2 {
		add(fmt.Sprintf("api_version %q is not supported: Alertmanager serves only v2", c.APIVersion), "api_version")
	}
	if c.Timeout <= 0 {
		add("timeout must be positive", "timeout")
	}
	if strings.ContainsAny(c.PathPrefix, "?#") {
		add(fmt.Sprintf("path_prefix %q must be a path, without query or fragment", c.PathPrefix), "path_prefix")
	}
	// There is no service discovery here, so a set without targets can
	// only be a mistake that would silently send nothing.
	n := 0
	for j, st := range c.StaticConfigs {
		for k, t := range st.Targets {
			n++
			err := validTarget(t)
			// Credentials in a target would end up in URLs, logs and the
			// alertmanager metric label.
			if err == nil && strings.Contains(t, "@") {
				err = fmt.Errorf("target %q must be host:port; put credentials in basic_auth or authorization", t)
			}
			if err != nil {
				add(err.Error(), "static_configs", j, "targets", k)
			}
		}
		errs = append(errs, validLabels(st.Labels, true, at("static_configs", j, "labels")...)...)
	}
	if n == 0 {
		add("alertmanager config needs at least one target in static_configs", "static_configs")
	}
	return append(errs, validClient(c.BasicAuth, c.Authorization, c.TLSConfig, at)...)
}
