package collector

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/gatewarden/gatewarden/config"
)

// group is a set of targets sharing labels, as static_configs and file_sd
// files list them.
type group struct {
	Targets []string          `json:"targets" yaml:"targets"`
	Labels  map[string]string `json:"labels" yaml:"labels"`
}

var errDropped = errors.New("dropped by relabeling")

// newTarget builds a target as Prometheus's PopulateLabels does: discovered
// labels plus job defaults, target relabeling, then the reserved "__" labels
// turn into the URL and disappear from the series labels.
func newTarget(sc *config.ScrapeConfig, addr string, groupLabels map[string]string) (*target, error) {
	lb := labels.NewBuilder(labels.EmptyLabels())
	for k, v := range groupLabels {
		lb.Set(k, v)
	}
	lb.Set(model.AddressLabel, addr)
	setDefault := func(k, v string) {
		if lb.Get(k) == "" {
			lb.Set(k, v)
		}
	}
	setDefault(model.JobLabel, sc.JobName)
	setDefault(model.SchemeLabel, sc.Scheme)
	setDefault(model.MetricsPathLabel, sc.MetricsPath)
	setDefault(model.ScrapeIntervalLabel, sc.ScrapeInterval.String())
	setDefault(model.ScrapeTimeoutLabel, sc.ScrapeTimeout.String())
	for k, vs := range sc.Params {
		if len(vs) > 0 {
			setDefault(model.ParamLabelPrefix+k, vs[0])
		}
	}
	t := &target{discovered: lb.Labels()}
	if !relabel.ProcessBuilder(lb, sc.TargetRelabeling()...) {
		return t, errDropped
	}
	addr = lb.Get(model.AddressLabel)
	if addr == "" {
		return t, errors.New("no address after relabeling")
	}
	var err error
	if t.interval, err = labelDuration(lb.Get(model.ScrapeIntervalLabel)); err != nil {
		return t, err
	}
	if t.timeout, err = labelDuration(lb.Get(model.ScrapeTimeoutLabel)); err != nil {
		return t, err
	}
	if t.timeout > t.interval {
		return t, fmt.Errorf("scrape timeout %s greater than interval %s", t.timeout, t.interval)
	}
	t.url = targetURL(lb, sc, addr)
	setDefault(model.InstanceLabel, addr)
	lb.Range(func(l labels.Label) {
		if strings.HasPrefix(l.Name, model.ReservedLabelPrefix) {
			lb.Del(l.Name)
		}
	})
	t.labels = lb.Labels()
	return t, nil
}

func targetURL(lb *labels.Builder, sc *config.ScrapeConfig, addr string) string {
	q := url.Values{}
	for k, vs := range sc.Params {
		q[k] = append([]string(nil), vs...)
	}
	lb.Range(func(l labels.Label) {
		if name, ok := strings.CutPrefix(l.Name, model.ParamLabelPrefix); ok {
			if len(q[name]) == 0 {
				q[name] = []string{l.Value}
			} else {
				q[name][0] = l.Value
			}
		}
	})
	u := url.URL{Scheme: lb.Get(model.SchemeLabel), Host: addr, Path: lb.Get(model.MetricsPathLabel), RawQuery: q.Encode()}
	return u.String()
}

func labelDuration(s string) (time.Duration, error) {
	d, err := model.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid scrape interval or timeout label %q", s)
	}
	return time.Duration(d), nil
}
