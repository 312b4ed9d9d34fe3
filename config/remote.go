package config

import (
	"fmt"

	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// RemoteWriteConfig is one remote_write endpoint in Prometheus's own
// vocabulary and defaults: it is handed as it is to Prometheus's
// storage/remote, so a block copied from prometheus.yml means the same here.
type RemoteWriteConfig struct {
	promconfig.RemoteWriteConfig `yaml:",inline"`
}

// UnmarshalYAML sets Prometheus's defaults and decodes with the file's
// strict decoder, so unknown keys and wrong types are located errors.
// Prometheus's own checks (url, headers, auth, queue settings) run in
// validation instead, where the block's position is known: its unmarshaler
// returns them as plain errors, without a line. A plain error of a value
// inside (Prometheus's durations) becomes a type error, so decoding goes
// on and every problem of the file is reported at once.
func (c *RemoteWriteConfig) UnmarshalYAML(unmarshal func(any) error) error {
	type plain promconfig.RemoteWriteConfig
	c.RemoteWriteConfig = promconfig.DefaultRemoteWriteConfig
	if err := unmarshal((*plain)(&c.RemoteWriteConfig)); err != nil {
		if _, ok := err.(*yaml.TypeError); ok {
			return err
		}
		return &yaml.TypeError{Errors: []string{err.Error()}}
	}
	// What Prometheus's unmarshaler does besides checking: authorization
	// defaults to the Bearer scheme, bearer_token becomes authorization.
	// Its errors are check's to report.
	_ = c.HTTPClientConfig.Validate()
	return nil
}

// MarshalYAML shows the block as Prometheus renders it (passwords and
// credentials "<secret>"), and the header values hidden too: they are
// where a receiver's API key goes.
func (c RemoteWriteConfig) MarshalYAML() (any, error) {
	shown := c.RemoteWriteConfig
	if len(shown.Headers) > 0 {
		shown.Headers = make(map[string]string, len(c.Headers))
		for k := range c.Headers {
			shown.Headers[k] = "<secret>"
		}
	}
	return &shown, nil
}

// check runs Prometheus's unmarshaler over the decoded block, rendered
// back to YAML, for its checks alone (secrets come back as "<secret>" and
// the result is dropped); the rendering is returned for comparisons.
func (c *RemoteWriteConfig) check() (string, error) {
	b, err := yaml.Marshal(&c.RemoteWriteConfig)
	if err != nil {
		return "", err
	}
	var probe promconfig.RemoteWriteConfig
	return string(b), yaml.Unmarshal(b, &probe)
}

// resolveRemoteWritePaths anchors the endpoints' credential and TLS files.
func resolveRemoteWritePaths(rws []*RemoteWriteConfig, dir string) {
	for _, rw := range rws {
		if rw != nil {
			rw.SetDirectory(dir)
		}
	}
}

// validateRemoteWrite checks what Prometheus checks across endpoints and
// after decoding: names are unique and relabelling is valid.
func validateRemoteWrite(rws []*RemoteWriteConfig) []yamlfile.PathError {
	var errs []yamlfile.PathError
	names, blocks := map[string]bool{}, map[string]bool{}
	for i, rw := range rws {
		if rw == nil {
			errs = append(errs, yamlfile.At("empty remote_write config", "remote_write", i))
			continue
		}
		rendered, err := rw.check()
		if err != nil {
			errs = append(errs, yamlfile.At("remote_write: "+err.Error(), "remote_write", i))
		}
		// Prometheus refuses two identical endpoints when it applies them.
		if rendered != "" && blocks[rendered] {
			errs = append(errs, yamlfile.At("remote_write: the same endpoint as an earlier one", "remote_write", i))
		}
		blocks[rendered] = true
		if rw.Name != "" {
			if names[rw.Name] {
				errs = append(errs, yamlfile.At(fmt.Sprintf("remote_write name %q is used by an earlier endpoint", rw.Name), "remote_write", i, "name"))
			}
			names[rw.Name] = true
		}
		if err := rw.Validate(model.UTF8Validation); err != nil {
			errs = append(errs, yamlfile.At("remote_write: "+err.Error(), "remote_write", i, "write_relabel_configs"))
		}
	}
	return errs
}

// Prometheus returns the remote-write part of this config as Prometheus's
// storage/remote applies it.
func (c *Config) Prometheus() *promconfig.Config {
	pc := &promconfig.Config{GlobalConfig: promconfig.DefaultGlobalConfig}
	pc.GlobalConfig.ExternalLabels = labels.FromMap(c.Global.ExternalLabels)
	for _, rw := range c.RemoteWriteConfigs {
		pc.RemoteWriteConfigs = append(pc.RemoteWriteConfigs, &rw.RemoteWriteConfig)
	}
	return pc
}
