package receiver

import (
	"fmt"
	"sort"
	"strings"
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
	MaxLabels    int // labels of one alert
}

// Groups is what the limits need of the dispatcher.
type Groups interface {
	// NewGroups is how many groups an alert with these labels would add.
	NewGroups(model.LabelSet) int
	// Groups is how many there are.
	Groups() int
}

// The limits as the metric's reason label and the config key.
const (
	limitAlerts = "max_alerts"
	limitGroups = "max_aggregation_groups"
	limitSize   = "max_alert_size"
	limitLabels = "max_labels_per_alert"
)

// refusals counts the alerts a request had refused, per limit.
type refusals map[string]int

// admit keeps the alerts within the limits and counts the others. An
// alert already firing is never refused for the alert or group limits:
// re-posts keep it alive. Concurrent requests check against counts of a
// moment ago, so a burst may overshoot a limit by what is in flight.
func (in *Ingest) admit(alerts []Alert, lim Limits, now time.Time) ([]Alert, refusals) {
	var refused refusals
	refuse := func(reason string) {
		if refused == nil {
			refused = refusals{}
		}
		refused[reason]++
		in.rejected.WithLabelValues(reason).Inc()
	}
	firing := in.inbox.Episodes.Len()
	groups := 0
	if in.groups != nil {
		groups = in.groups.Groups()
	}
	out := alerts[:0]
	for _, a := range alerts {
		switch {
		case lim.MaxLabels > 0 && len(a.Labels) > lim.MaxLabels:
			refuse(limitLabels)
			continue
		case lim.MaxAlertSize > 0 && alertSize(a) > lim.MaxAlertSize:
			refuse(limitSize)
			continue
		}
		if !in.inbox.Episodes.IsOpen(a.Fingerprint(), now) {
			if a.firing(now) && lim.MaxAlerts > 0 && firing >= lim.MaxAlerts {
				refuse(limitAlerts)
				continue
			}
			if in.groups != nil && lim.MaxGroups > 0 {
				n := in.groups.NewGroups(labelSet(a.Labels))
				if n > 0 && groups+n > lim.MaxGroups {
					refuse(limitGroups)
					continue
				}
				groups += n
			}
			if a.firing(now) {
				firing++
			}
		}
		out = append(out, a)
	}
	return out, refused
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
		Help: "Alerts ingest refused at a limit, by limit: max_alerts, max_aggregation_groups, max_alert_size, max_labels_per_alert.",
	}, []string{"reason"})
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}
