package config

import (
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

func (c *Config) applyDefaults() {
	g := &c.Global
	if g.ScrapeInterval == 0 {
		g.ScrapeInterval = Duration(DefaultScrapeInterval)
	}
	if g.ScrapeTimeout == 0 {
		g.ScrapeTimeout = min(g.ScrapeInterval, Duration(DefaultScrapeInterval))
	}
	if g.EvaluationInterval == 0 {
		g.EvaluationInterval = Duration(DefaultEvaluationInterval)
	}
	if c.Runtime.GOGC == 0 {
		c.Runtime.GOGC = DefaultGOGC
	}
	if c.Storage.Retention == 0 {
		c.Storage.Retention = Duration(DefaultRetention)
	}
	c.API.applyDefaults()
	c.Receiver.applyDefaults()
	c.Throttle.applyDefaults()
	for _, sc := range c.ScrapeConfigs {
		if sc == nil {
			continue
		}
		if sc.ScrapeInterval == 0 {
			sc.ScrapeInterval = g.ScrapeInterval
		}
		// As Prometheus: a job's interval shorter than the global timeout
		// caps its timeout rather than failing validation.
		if sc.ScrapeTimeout == 0 {
			sc.ScrapeTimeout = min(g.ScrapeTimeout, sc.ScrapeInterval)
		}
		if sc.MetricsPath == "" {
			sc.MetricsPath = "/metrics"
		}
		if sc.Scheme == "" {
			sc.Scheme = "http"
		}
		if sc.BodySizeLimit == 0 {
			sc.BodySizeLimit = DefaultBodySizeLimit
		}
		for i := range sc.FileSDConfigs {
			if sc.FileSDConfigs[i].RefreshInterval == 0 {
				sc.FileSDConfigs[i].RefreshInterval = Duration(DefaultFileSDRefresh)
			}
		}
	}
}

// resolvePaths anchors relative file references at the config's directory,
// as Prometheus does, so the daemon's working directory does not matter.
func (c *Config) resolvePaths(dir string) {
	join := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range c.RuleFiles {
		join(&c.RuleFiles[i])
	}
	c.Alerting.resolvePaths(join)
	c.API.resolvePaths(join)
	c.Receiver.resolvePaths(join)
	c.Throttle.resolvePaths(join)
	join(&c.Storage.DatabaseURLFile)
	resolveRemoteWritePaths(c.RemoteWriteConfigs, dir)
	for _, sc := range c.ScrapeConfigs {
		if sc == nil {
			continue
		}
		for i := range sc.FileSDConfigs {
			for j := range sc.FileSDConfigs[i].Files {
				join(&sc.FileSDConfigs[i].Files[j])
			}
		}
		resolveClientPaths(join, sc.BasicAuth, sc.Authorization, &sc.TLSConfig)
	}
}

func (c *Config) validate() []yamlfile.PathError {
	var errs []yamlfile.PathError
	g := c.Global
	if g.ScrapeTimeout > g.ScrapeInterval {
		errs = append(errs, yamlfile.At(fmt.Sprintf("global scrape_timeout %s is greater than scrape_interval %s", g.ScrapeTimeout, g.ScrapeInterval), "global", "scrape_timeout"))
	}
	errs = append(errs, validLabels(g.ExternalLabels, false, "global", "external_labels")...)
	for i, pattern := range c.RuleFiles {
		if _, err := filepath.Match(pattern, ""); err != nil {
			errs = append(errs, yamlfile.At(fmt.Sprintf("invalid rule file pattern %q: %v", pattern, err), "rule_files", i))
		}
	}
	if c.Runtime.GOGC < 0 {
		errs = append(errs, yamlfile.At("runtime gogc must be positive", "runtime", "gogc"))
	}
	errs = append(errs, c.Alerting.validate("alerting")...)
	errs = append(errs, c.API.validate("api")...)
	errs = append(errs, c.Storage.validate("storage")...)
	errs = append(errs, c.Receiver.validate("receiver")...)
	errs = append(errs, c.Throttle.validate("throttle")...)
	errs = append(errs, validateRemoteWrite(c.RemoteWriteConfigs)...)
	jobs := map[string]bool{}
	for i, sc := range c.ScrapeConfigs {
		at := func(p ...any) []any { return append([]any{"scrape_configs", i}, p...) }
		if sc == nil {
			errs = append(errs, yamlfile.At("empty scrape config", at()...))
			continue
		}
		if jobs[sc.JobName] {
			errs = append(errs, yamlfile.At(fmt.Sprintf("job_name %q is used by an earlier scrape config", sc.JobName), at("job_name")...))
		}
		jobs[sc.JobName] = true
		errs = append(errs, sc.validate(at)...)
	}
	return errs
}

func (sc *ScrapeConfig) validate(at func(...any) []any) []yamlfile.PathError {
	var errs []yamlfile.PathError
	add := func(msg string, p ...any) { errs = append(errs, yamlfile.At(msg, at(p...)...)) }
	if sc.JobName == "" {
		add("job_name is required", "job_name")
	}
	if sc.Scheme != "http" && sc.Scheme != "https" {
		add(fmt.Sprintf("scheme must be http or https, not %q", sc.Scheme), "scheme")
	}
	if !strings.HasPrefix(sc.MetricsPath, "/") {
		add(fmt.Sprintf("metrics_path %q must start with /", sc.MetricsPath), "metrics_path")
	}
	if sc.ScrapeInterval <= 0 {
		add("scrape_interval must be positive", "scrape_interval")
	}
	if sc.ScrapeTimeout > sc.ScrapeInterval {
		add(fmt.Sprintf("scrape_timeout %s is greater than scrape_interval %s", sc.ScrapeTimeout, sc.ScrapeInterval), "scrape_timeout")
	}
	for j, st := range sc.StaticConfigs {
		for k, t := range st.Targets {
			if err := validTarget(t); err != nil {
				add(err.Error(), "static_configs", j, "targets", k)
			}
		}
		errs = append(errs, validLabels(st.Labels, true, at("static_configs", j, "labels")...)...)
	}
	for j, fsd := range sc.FileSDConfigs {
		if len(fsd.Files) == 0 {
			add("file_sd_configs needs at least one file", "file_sd_configs", j)
		}
		for k, f := range fsd.Files {
			if _, err := filepath.Match(f, ""); err != nil {
				add(fmt.Sprintf("invalid file pattern %q: %v", f, err), "file_sd_configs", j, "files", k)
			}
			if ext := filepath.Ext(f); ext != ".json" && ext != ".yml" && ext != ".yaml" {
				add(fmt.Sprintf("file_sd file %q must end in .json, .yml or .yaml", f), "file_sd_configs", j, "files", k)
			}
		}
	}
	errs = append(errs, validClient(sc.BasicAuth, sc.Authorization, sc.TLSConfig, at)...)
	var es []yamlfile.PathError
	sc.relabel, es = compileRelabel(sc.RelabelConfigs, at("relabel_configs"))
	errs = append(errs, es...)
	sc.metricRelabel, es = compileRelabel(sc.MetricRelabelConfigs, at("metric_relabel_configs"))
	return append(errs, es...)
}

// validTarget rejects what Prometheus rejects in a static target: a scheme or
// a path belong in scheme and metrics_path.
func validTarget(t string) error {
	if t == "" {
		return fmt.Errorf("empty target")
	}
	if strings.Contains(t, "/") {
		return fmt.Errorf("target %q must be host:port; set scheme and metrics_path separately", t)
	}
	if _, _, err := net.SplitHostPort(t); err != nil {
		if !strings.Contains(err.Error(), "missing port") {
			return fmt.Errorf("target %q: %v", t, err)
		}
	}
	return nil
}

// validLabels checks label names in key order, so errors come out the same
// every time. Target labels may set the reserved __ ones (__scheme__,
// __param_x), which relabeling then consumes.
func validLabels(ls map[string]string, reservedOK bool, path ...any) []yamlfile.PathError {
	var errs []yamlfile.PathError
	for _, name := range slices.Sorted(maps.Keys(ls)) {
		if !model.UTF8Validation.IsValidLabelName(name) || !reservedOK && strings.HasPrefix(name, model.ReservedLabelPrefix) {
			errs = append(errs, yamlfile.At(fmt.Sprintf("invalid label name %q", name), append(path, name)...))
		}
	}
	return errs
}

func compileRelabel(rcs []RelabelConfig, path []any) ([]*relabel.Config, []yamlfile.PathError) {
	var (
		out  []*relabel.Config
		errs []yamlfile.PathError
	)
	for i, rc := range rcs {
		c, err := rc.compile()
		if err != nil {
			errs = append(errs, yamlfile.At(err.Error(), append(path, i)...))
			continue
		}
		out = append(out, c)
	}
	return out, errs
}

// compile fills Prometheus's defaults for the fields left out and validates
// with the relabel package itself, so the semantics are Prometheus's.
func (rc RelabelConfig) compile() (*relabel.Config, error) {
	c := &relabel.Config{
		Separator:            ";",
		Modulus:              rc.Modulus,
		TargetLabel:          rc.TargetLabel,
		Replacement:          "$1",
		Action:               relabel.Replace,
		NameValidationScheme: model.UTF8Validation,
	}
	for _, s := range rc.SourceLabels {
		c.SourceLabels = append(c.SourceLabels, model.LabelName(s))
	}
	if rc.Separator != nil {
		c.Separator = *rc.Separator
	}
	if rc.Replacement != nil {
		c.Replacement = *rc.Replacement
	}
	if rc.Action != "" {
		c.Action = relabel.Action(strings.ToLower(rc.Action))
	}
	regex := "(.*)"
	if rc.Regex != nil {
		regex = *rc.Regex
	}
	re, err := relabel.NewRegexp(regex)
	if err != nil {
		return nil, fmt.Errorf("invalid regex %q: %w", regex, err)
	}
	c.Regex = re
	if err := c.Validate(model.UTF8Validation); err != nil {
		return nil, err
	}
	return c, nil
}
