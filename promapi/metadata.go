package promapi

import (
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/collector"
)

// metadata is one entry of /metadata, the same family as several targets
// describe it: usually one, more when they disagree.
type metadata struct {
	Type model.MetricType `json:"type"`
	Help string           `json:"help"`
	Unit string           `json:"unit"`
}

// targetMetadata is one entry of /targets/metadata; metric is left out
// when the request asked for one metric.
type targetMetadata struct {
	Target labels.Labels    `json:"target"`
	Metric string           `json:"metric,omitempty"`
	Type   model.MetricType `json:"type"`
	Help   string           `json:"help"`
	Unit   string           `json:"unit"`
}

// numberParam reads an optional count where Prometheus answers "<name>
// must be a number"; absent is -1, no limit.
func numberParam(r *http.Request, name string) (int, *apiError) {
	s := r.FormValue(name)
	if s == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, &apiError{errBadData, errors.New(name + " must be a number")}
	}
	return n, nil
}

func (a *API) allMetadata() []collector.TargetMetadata {
	if a.opts.Metadata == nil {
		return nil
	}
	return a.opts.Metadata.Metadata()
}

// metricMetadata answers /metadata: metric name to its distinct metadata.
// Prometheus walks a map for limit and so picks names at random; here
// the first names in sorted order are kept, so a limited answer is stable.
func (a *API) metricMetadata(r *http.Request) result {
	limit, apiErr := numberParam(r, "limit")
	if apiErr != nil {
		return failure(apiErr)
	}
	perMetric, apiErr := numberParam(r, "limit_per_metric")
	if apiErr != nil {
		return failure(apiErr)
	}
	metric := r.FormValue("metric")
	byName := map[string][]metadata{}
	for _, t := range a.allMetadata() {
		for _, m := range t.Metrics {
			if metric != "" && m.Metric != metric {
				continue
			}
			md, have := metadata{m.Type, m.Help, m.Unit}, byName[m.Metric]
			if slices.Contains(have, md) || (perMetric > 0 && len(have) >= perMetric) {
				continue
			}
			byName[m.Metric] = append(have, md)
		}
	}
	if limit >= 0 && len(byName) > limit {
		names := make([]string, 0, len(byName))
		for n := range byName {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names[limit:] {
			delete(byName, n)
		}
	}
	return success(byName)
}

// targetMetadata answers /targets/metadata: one entry per target and
// metric, optionally only targets matching match_target and one metric.
func (a *API) targetMetadata(r *http.Request) result {
	limit, apiErr := numberParam(r, "limit")
	if apiErr != nil {
		return failure(apiErr)
	}
	var matchers []*labels.Matcher
	if s := r.FormValue("match_target"); s != "" {
		var err error
		if matchers, err = a.parser.ParseMetricSelector(s); err != nil {
			return failure(paramError(err, "match_target"))
		}
	}
	metric := r.FormValue("metric")
	out := []targetMetadata{}
	for _, t := range a.allMetadata() {
		// As Prometheus, the limit counts targets' lists, checked
		// before each target: a target's list is never cut.
		if limit >= 0 && len(out) >= limit {
			break
		}
		if !matchAll(t.Labels, matchers) {
			continue
		}
		for _, m := range t.Metrics {
			if metric != "" && m.Metric != metric {
				continue
			}
			tm := targetMetadata{Target: t.Labels, Metric: m.Metric, Type: m.Type, Help: m.Help, Unit: m.Unit}
			if metric != "" {
				tm.Metric = ""
			}
			out = append(out, tm)
		}
	}
	return success(out)
}

func matchAll(ls labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}
