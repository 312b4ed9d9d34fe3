// Package config holds the gatewarden.yml schema: types, defaults and
// validation. It describes behaviour; the packages that act on it live
// elsewhere.
package config

import (
	"reflect"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/relabel"
)

// Defaults follow Prometheus's except where a gateway sidecar differs: the
// built-in rules count samples 10 s apart, so 10 s is the natural interval.
const (
	DefaultScrapeInterval     = 10 * time.Second
	DefaultEvaluationInterval = 10 * time.Second
	DefaultRetention          = 2 * time.Hour
	DefaultBodySizeLimit      = 64 << 20
	DefaultFileSDRefresh      = 30 * time.Second
	DefaultGOGC               = 25
)

// Config is the root of gatewarden.yml. A section left out is not started;
// later sections (alerting, receiver, throttle, api) are added as fields here,
// each owned by the package that acts on it.
type Config struct {
	Global        GlobalConfig    `yaml:"global"`
	ScrapeConfigs []*ScrapeConfig `yaml:"scrape_configs"`
	RuleFiles     []string        `yaml:"rule_files"`
	Alerting      AlertingConfig  `yaml:"alerting"`
	Storage       StorageConfig   `yaml:"storage"`
	Runtime       RuntimeConfig   `yaml:"runtime"`
	API           APIConfig       `yaml:"api"`
	Receiver      *ReceiverConfig `yaml:"receiver"`
	Throttle      *ThrottleConfig `yaml:"throttle"`

	RemoteWriteConfigs []*RemoteWriteConfig `yaml:"remote_write"`

	// file is where the config was loaded from; relative paths in it are
	// resolved against its directory.
	file string
}

// File returns the path the config was loaded from, empty for one parsed
// from bytes.
func (c *Config) File() string { return c.file }

// GlobalConfig holds the defaults every scrape config and rule group inherits.
type GlobalConfig struct {
	ScrapeInterval     Duration          `yaml:"scrape_interval"`
	ScrapeTimeout      Duration          `yaml:"scrape_timeout"`
	EvaluationInterval Duration          `yaml:"evaluation_interval"`
	ExternalLabels     map[string]string `yaml:"external_labels"`
}

// StorageConfig configures the local time-series store and the SQL store
// of alerts, history and audit: SQLite under --storage.path unless a
// PostgreSQL URL is given, so that several gatewardens can share one.
type StorageConfig struct {
	Retention       Duration         `yaml:"retention"`
	DatabaseURL     commoncfg.Secret `yaml:"database_url"`
	DatabaseURLFile string           `yaml:"database_url_file"`

	databaseURL string
}

// Database returns the PostgreSQL URL (read from database_url_file at
// load), empty for the embedded SQLite store.
func (c *StorageConfig) Database() string { return c.databaseURL }

// RuntimeConfig tunes the Go runtime, as Prometheus's runtime section does.
type RuntimeConfig struct {
	// GOGC is the garbage collector's target percentage. gatewarden's heap
	// is mostly long-lived series and it allocates little per scrape, so a
	// value below Prometheus's 75 costs little CPU and saves memory.
	// The GOGC environment variable, when set, takes precedence.
	GOGC int `yaml:"gogc"`
}

// ScrapeConfig is the Prometheus-compatible subset gatewarden scrapes with.
type ScrapeConfig struct {
	JobName              string              `yaml:"job_name"`
	StaticConfigs        []StaticConfig      `yaml:"static_configs"`
	FileSDConfigs        []FileSDConfig      `yaml:"file_sd_configs"`
	MetricsPath          string              `yaml:"metrics_path"`
	Scheme               string              `yaml:"scheme"`
	Params               map[string][]string `yaml:"params"`
	ScrapeInterval       Duration            `yaml:"scrape_interval"`
	ScrapeTimeout        Duration            `yaml:"scrape_timeout"`
	HonorLabels          bool                `yaml:"honor_labels"`
	HonorTimestamps      *bool               `yaml:"honor_timestamps"`
	SampleLimit          uint                `yaml:"sample_limit"`
	LabelLimit           uint                `yaml:"label_limit"`
	BodySizeLimit        Bytes               `yaml:"body_size_limit"`
	RelabelConfigs       []RelabelConfig     `yaml:"relabel_configs"`
	MetricRelabelConfigs []RelabelConfig     `yaml:"metric_relabel_configs"`
	BasicAuth            *BasicAuth          `yaml:"basic_auth"`
	Authorization        *Authorization      `yaml:"authorization"`
	TLSConfig            TLSConfig           `yaml:"tls_config"`

	relabel       []*relabel.Config
	metricRelabel []*relabel.Config
}

// StaticConfig is a fixed list of targets sharing labels.
type StaticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// FileSDConfig names files (globs allowed) holding target groups in
// Prometheus's file_sd format, JSON or YAML.
type FileSDConfig struct {
	Files           []string `yaml:"files"`
	RefreshInterval Duration `yaml:"refresh_interval"`
}

// BasicAuth sends HTTP basic credentials; prefer password_file so the secret
// stays out of the config.
type BasicAuth struct {
	Username     string           `yaml:"username"`
	Password     commoncfg.Secret `yaml:"password"`
	PasswordFile string           `yaml:"password_file"`
}

// Authorization sends an Authorization header, "Bearer" by default.
type Authorization struct {
	Type            string           `yaml:"type"`
	Credentials     commoncfg.Secret `yaml:"credentials"`
	CredentialsFile string           `yaml:"credentials_file"`
}

// TLSConfig configures the TLS client side of a scrape.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// RelabelConfig is Prometheus's relabel_config; it compiles into
// relabel.Config during validation.
type RelabelConfig struct {
	SourceLabels []string `yaml:"source_labels,flow"`
	Separator    *string  `yaml:"separator"`
	Regex        *string  `yaml:"regex"`
	Modulus      uint64   `yaml:"modulus"`
	TargetLabel  string   `yaml:"target_label"`
	Replacement  *string  `yaml:"replacement"`
	Action       string   `yaml:"action"`
}

// TargetRelabeling returns the compiled target relabeling rules.
func (c *ScrapeConfig) TargetRelabeling() []*relabel.Config { return c.relabel }

// MetricRelabeling returns the compiled metric relabeling rules.
func (c *ScrapeConfig) MetricRelabeling() []*relabel.Config { return c.metricRelabel }

// HonorsTimestamps reports whether timestamps in the exposition are kept
// (Prometheus's default) or replaced by the scrape time.
func (c *ScrapeConfig) HonorsTimestamps() bool { return c.HonorTimestamps == nil || *c.HonorTimestamps }

// HTTPClientConfig translates the scrape's auth and TLS settings into the
// client config every Prometheus component uses, so *_file secrets are
// re-read per request exactly as there.
func (c *ScrapeConfig) HTTPClientConfig() commoncfg.HTTPClientConfig {
	return httpClientConfig(c.BasicAuth, c.Authorization, c.TLSConfig)
}

// Equal reports whether two scrape configs say the same thing, so a reload
// leaves an unchanged job's loops alone.
func (c *ScrapeConfig) Equal(o *ScrapeConfig) bool {
	x, y := *c, *o
	x.relabel, x.metricRelabel, y.relabel, y.metricRelabel = nil, nil, nil, nil
	return reflect.DeepEqual(x, y)
}
