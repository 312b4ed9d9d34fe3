package notifier

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/version"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/config"
)

// Prometheus's defaults: the queue holds far more than a batch, so a slow
// Alertmanager costs batches of latency before it costs alerts.
const (
	DefaultQueueCapacity = 10000
	DefaultMaxBatchSize  = 256
)

// Options configure a Manager. Zero sizes, Logger and Now take defaults;
// DrainOnShutdown cannot default to true in a bool, so start from
// DefaultOptions.
type Options struct {
	QueueCapacity int
	MaxBatchSize  int
	// ExternalLabels apply until the first ApplyConfig, which replaces them
	// with the config's global external_labels, as Prometheus does.
	ExternalLabels labels.Labels
	Registerer     prometheus.Registerer
	Logger         *slog.Logger
	// Now times sends for the latency histogram; tests inject a clock.
	Now func() time.Time
	// DrainOnShutdown sends what is queued when Run's context ends, for a
	// few seconds at most, rather than dropping it.
	DrainOnShutdown bool
}

// DefaultOptions are Prometheus's.
func DefaultOptions() Options {
	return Options{QueueCapacity: DefaultQueueCapacity, MaxBatchSize: DefaultMaxBatchSize, DrainOnShutdown: true}
}

// Manager queues alerts and sends them to the configured Alertmanagers.
type Manager struct {
	opts    Options
	logger  *slog.Logger
	metrics *metrics
	// more wakes Run; its one slot means "the queue may be non-empty", so
	// Send never blocks on it.
	more chan struct{}

	mtx   sync.Mutex
	queue []*Alert
	ext   labels.Labels
	sets  []*amSet
}

// amSet is one alertmanagers entry: its targets share a client (auth, TLS)
// and a timeout.
type amSet struct {
	client  *http.Client
	timeout time.Duration
	urls    []*url.URL
}

var userAgent = version.ComponentUserAgent("gatewarden")

// New returns a Manager sending nowhere until ApplyConfig names
// Alertmanagers, and queueing nothing until Run sends.
func New(o Options) *Manager {
	if o.QueueCapacity <= 0 {
		o.QueueCapacity = DefaultQueueCapacity
	}
	if o.MaxBatchSize <= 0 {
		o.MaxBatchSize = DefaultMaxBatchSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Manager{opts: o, logger: o.Logger, more: make(chan struct{}, 1), ext: o.ExternalLabels}
	m.metrics = newMetrics(o.Registerer, func() float64 { return float64(len(m.Alertmanagers())) })
	m.metrics.queueCapacity.Set(float64(o.QueueCapacity))
	return m
}

// Send queues alerts with the external labels added, without blocking.
// A full queue drops its oldest alerts: newer events say more about the
// present, and firing alerts come again at the next resend anyway.
//
// While no Alertmanager is configured Send discards: nothing could deliver
// the alerts, and counting them as dropped would alarm on a setup that
// never asked for Alertmanagers.
func (m *Manager) Send(alerts ...*Alert) {
	m.mtx.Lock()
	ext, none := m.ext, len(m.sets) == 0
	m.mtx.Unlock()
	if none || len(alerts) == 0 {
		return
	}
	// Built outside the lock: the evaluator may send thousands at once.
	alerts = withExternalLabels(ext, alerts)

	m.mtx.Lock()
	dropped := 0
	if d := len(alerts) - m.opts.QueueCapacity; d > 0 {
		dropped, alerts = d, alerts[d:]
	}
	if d := len(m.queue) + len(alerts) - m.opts.QueueCapacity; d > 0 {
		dropped += d
		clear(m.queue[:d]) // the backing array must not keep dropped alerts alive
		m.queue = m.queue[d:]
	}
	m.queue = append(m.queue, alerts...)
	m.metrics.queueLength.Set(float64(len(m.queue)))
	m.mtx.Unlock()

	if dropped > 0 {
		m.metrics.dropped.Add(float64(dropped))
		m.logger.Warn("Alert queue full, dropped the oldest alerts", "count", dropped)
	}
	m.wake()
}

func (m *Manager) wake() {
	select {
	case m.more <- struct{}{}:
	default:
	}
}

// next takes up to a batch off the queue, with the Alertmanagers to send it
// to at this moment.
func (m *Manager) next() ([]*Alert, []*amSet) {
	m.mtx.Lock()
	defer m.mtx.Unlock()
	n := min(len(m.queue), m.opts.MaxBatchSize)
	batch := slices.Clone(m.queue[:n])
	clear(m.queue[:n])
	m.queue = m.queue[n:]
	m.metrics.queueLength.Set(float64(len(m.queue)))
	return batch, m.sets
}

// takeAll empties the queue, returning how many alerts it held.
func (m *Manager) takeAll() int {
	m.mtx.Lock()
	defer m.mtx.Unlock()
	n := len(m.queue)
	m.queue = nil
	m.metrics.queueLength.Set(0)
	return n
}

func (m *Manager) queueLen() int {
	m.mtx.Lock()
	defer m.mtx.Unlock()
	return len(m.queue)
}

// ApplyConfig switches to the config's Alertmanagers and external labels,
// or, if any client cannot be built (a missing CA file, say), changes
// nothing: a bad reload keeps the old config running.
func (m *Manager) ApplyConfig(cfg *config.Config) error {
	sets := make([]*amSet, 0, len(cfg.Alerting.Alertmanagers))
	for i, ac := range cfg.Alerting.Alertmanagers {
		if ac == nil {
			continue
		}
		s, err := newSet(ac)
		if err != nil {
			return fmt.Errorf("alerting alertmanagers %d: %w", i, err)
		}
		sets = append(sets, s)
	}

	m.mtx.Lock()
	defer m.mtx.Unlock()
	old := m.sets
	m.sets, m.ext = sets, labels.FromMap(cfg.Global.ExternalLabels)
	kept := map[string]bool{}
	for _, s := range sets {
		for _, u := range s.urls {
			kept[u.String()] = true
			m.metrics.track(u.String())
		}
	}
	for _, s := range old {
		// Batches in flight finish on their connections; only idle ones go.
		s.client.CloseIdleConnections()
		for _, u := range s.urls {
			if !kept[u.String()] {
				m.metrics.forget(u.String())
			}
		}
	}
	return nil
}

func newSet(c *config.AlertmanagerConfig) (*amSet, error) {
	client, err := commoncfg.NewClientFromConfig(c.HTTPClientConfig(), "alertmanager", commoncfg.WithUserAgent(userAgent))
	if err != nil {
		return nil, err
	}
	s := &amSet{client: client, timeout: time.Duration(c.Timeout)}
	p := path.Join("/", c.PathPrefix, "api", config.AlertmanagerAPIV2, "alerts")
	seen := map[string]bool{}
	for _, sc := range c.StaticConfigs {
		for _, t := range sc.Targets {
			u := &url.URL{Scheme: c.Scheme, Host: t, Path: p}
			if !seen[u.String()] {
				seen[u.String()] = true
				s.urls = append(s.urls, u)
			}
		}
	}
	return s, nil
}

// Alertmanagers returns the push URL of every configured Alertmanager, as
// Prometheus's /api/v1/alertmanagers lists them.
func (m *Manager) Alertmanagers() []*url.URL {
	m.mtx.Lock()
	defer m.mtx.Unlock()
	var res []*url.URL
	for _, s := range m.sets {
		for _, u := range s.urls {
			c := *u // callers must not be able to change where alerts go
			res = append(res, &c)
		}
	}
	return res
}
