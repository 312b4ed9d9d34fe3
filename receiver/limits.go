package receiver

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
)

// Limits bound what ingest takes, Mimir-style: past one, new alerts are
// refused with 429 naming it, while the alerts already held keep being
// delivered. Zero imposes nothing.
type Limits struct {
	MaxAlerts    int // firing at once
	MaxGroups    int // aggregation groups
	MaxAlertSize int // bytes of label and annotation names and values
	// MaxAlertsSize bounds those bytes over the alerts firing.
	MaxAlertsSize int64
	MaxLabels     int // labels of one alert
}

// Groups is what the group limit needs of the dispatcher.
type Groups interface {
	// Reserve takes the groups an alert with these labels would join,
	// unless that makes more than max groups; false: it did not.
	Reserve(ls model.LabelSet, max int) bool
}

// The limits as the metric's reason label and the config key.
const (
	limitAlerts = "max_alerts"
	limitGroups = "max_aggregation_groups"
	limitSize   = "max_alert_size"
	limitBytes  = "max_alerts_size"
	limitLabels = "max_labels_per_alert"
)

// refusals counts the alerts a request had refused, per limit.
type refusals map[string]int

// inflight counts the firing alerts admitted and not yet taken by the
// episode tracker, so concurrent requests cannot pass max_alerts or
// max_alerts_size together. Between the tracker taking them and done,
// they count twice: the limits err on the side of refusing.
type inflight struct {
	mu            sync.Mutex
	alerts, bytes int64
}

// admitted is what one request added to inflight.
type admitted struct{ alerts, bytes int64 }

func (f *inflight) done(a admitted) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts -= a.alerts
	f.bytes -= a.bytes
}

// admit keeps the alerts within the limits and counts the others. An
// alert already firing is never refused for the alert or group limits:
// re-posts keep it alive.
func (in *Ingest) admit(alerts []Alert, lim Limits, now time.Time) ([]Alert, refusals, admitted) {
	in.inflight.mu.Lock()
	defer in.inflight.mu.Unlock()
	var refused refusals
	refuse := func(reason string) {
		if refused == nil {
			refused = refusals{}
		}
		refused[reason]++
		in.rejected.WithLabelValues(reason).Inc()
	}
	firing, bytes := int64(in.inbox.Episodes.Len())+in.inflight.alerts, in.inbox.Episodes.Bytes()+in.inflight.bytes
	var mine admitted
	out := alerts[:0]
	for _, a := range alerts {
		size := alertSize(a)
		switch {
		case lim.MaxLabels > 0 && len(a.Labels) > lim.MaxLabels:
			refuse(limitLabels)
			continue
		case lim.MaxAlertSize > 0 && size > lim.MaxAlertSize:
			refuse(limitSize)
			continue
		}
		if !in.inbox.Episodes.IsOpen(a.Fingerprint(), now) {
			if a.firing(now) && lim.MaxAlerts > 0 && firing >= int64(lim.MaxAlerts) {
				refuse(limitAlerts)
				continue
			}
			if a.firing(now) && lim.MaxAlertsSize > 0 && bytes+int64(size) > lim.MaxAlertsSize {
				refuse(limitBytes)
				continue
			}
			// Last: a reservation is kept.
			if in.groups != nil && lim.MaxGroups > 0 && !in.groups.Reserve(labelSet(a.Labels), lim.MaxGroups) {
				refuse(limitGroups)
				continue
			}
			if a.firing(now) {
				firing++
				bytes += int64(size)
				mine.alerts++
				mine.bytes += int64(size)
			}
		}
		out = append(out, a)
	}
	in.inflight.alerts += mine.alerts
	in.inflight.bytes += mine.bytes
	return out, refused, mine
}

// alertSize is what the size limit measures.
func alertSize(a Alert) int {
	n := 0
	for k, v := range a.Labels {
		n += len(k) + len(v)
	}
	for k, v := range a.Annotations {
		n += len(k) + len(v)
	}
	return n
}

// message says which limits refused how many alerts, naming each limit's
// config key.
func (r refusals) message(lim Limits) string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		var why string
		switch k {
		case limitAlerts:
			why = fmt.Sprintf("the receiver holds its limit of %d firing alerts", lim.MaxAlerts)
		case limitGroups:
			why = fmt.Sprintf("they would pass the limit of %d aggregation groups", lim.MaxGroups)
		case limitSize:
			why = fmt.Sprintf("each is larger than %d bytes of labels and annotations", lim.MaxAlertSize)
		case limitBytes:
			why = fmt.Sprintf("the firing alerts would take more than the limit of %d bytes of labels and annotations", lim.MaxAlertsSize)
		case limitLabels:
			why = fmt.Sprintf("each has more than %d labels", lim.MaxLabels)
		}
		parts[i] = fmt.Sprintf("%d alerts refused: %s (receiver.limits.%s)", r[k], why, k)
	}
	return strings.Join(parts, "; ")
}

func newRejectedCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatewarden_receiver_alerts_rejected_total",
		Help: "Alerts ingest refused at a limit, by limit: max_alerts, max_alerts_size, max_aggregation_groups, max_alert_size, max_labels_per_alert.",
	}, []string{"reason"})
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}

// registerLimitGauges shows how near max_alerts and max_alerts_size the
// receiver is.
func registerLimitGauges(reg prometheus.Registerer, e *Episodes) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewarden_receiver_firing_alerts",
			Help: "Alerts firing in the receiver; receiver.limits.max_alerts bounds it.",
		}, func() float64 { return float64(e.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewarden_receiver_firing_alerts_size_bytes",
			Help: "Label and annotation bytes of the alerts firing; receiver.limits.max_alerts_size bounds it.",
		}, func() float64 { return float64(e.Bytes()) }))
}
