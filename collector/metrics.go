package collector

import "github.com/prometheus/client_golang/prometheus"

// Failure reasons, the values of the reason label on scrape failures.
const (
	reasonTimeout     = "timeout"
	reasonHTTP        = "http"
	reasonBodySize    = "body_size_limit"
	reasonSampleLimit = "sample_limit"
	reasonLabelLimit  = "label_limit"
	reasonParse       = "parse"
	reasonStorage     = "storage"
)

// Reasons a single sample is rejected while the scrape as a whole succeeds,
// as Prometheus counts them.
const (
	rejectOutOfOrder = "out_of_order"
	rejectOutOfBound = "out_of_bounds"
	rejectTooOld     = "too_old"
	rejectDuplicate  = "duplicate"
)

type metrics struct {
	scrapes        *prometheus.CounterVec
	failures       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	rejected       *prometheus.CounterVec
	targets        *prometheus.GaugeVec
	sdReadFailures prometheus.Counter
	cachedSeries   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		scrapes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_scrapes_total",
			Help: "Scrapes attempted, by job.",
		}, []string{"job"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_scrape_failures_total",
			Help: "Scrapes that failed, by job and reason.",
		}, []string{"job", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatewarden_scrape_duration_seconds",
			Help:    "Time from the start of a scrape to its samples committed, by job.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"job"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_scrape_samples_rejected_total",
			Help: "Samples dropped from otherwise successful scrapes, by job and reason.",
		}, []string{"job", "reason"}),
		targets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewarden_scrape_targets",
			Help: "Active scrape targets, by job.",
		}, []string{"job"}),
		sdReadFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewarden_sd_file_read_failures_total",
			Help: "file_sd files that could not be read or parsed.",
		}),
		cachedSeries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatewarden_scrape_cache_series",
			Help: "Series held in the scrape caches, by job.",
		}, []string{"job"}),
	}
	if reg != nil {
		reg.MustRegister(m.scrapes, m.failures, m.duration, m.rejected, m.targets, m.sdReadFailures, m.cachedSeries)
	}
	return m
}

// forget drops a job's series when it leaves the config, so removed jobs do
// not linger on /metrics.
func (m *metrics) forget(job string) {
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.scrapes, m.failures, m.duration, m.rejected, m.targets, m.cachedSeries} {
		v.DeletePartialMatch(prometheus.Labels{"job": job})
	}
}
