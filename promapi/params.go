package promapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

var (
	// minTime and maxTime are the defaults of optional start and end
	// parameters. They are Prometheus's values (not the int64 extremes) so
	// that clients which echo them back, as Grafana does, get the same
	// answer from us.
	minTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()

	// time.Parse cannot read years beyond four digits, so the boundary
	// times are recognised by their formatted text.
	minTimeFormatted = minTime.Format(time.RFC3339Nano)
	maxTimeFormatted = maxTime.Format(time.RFC3339Nano)
)

// parseTime reads a float of Unix seconds (rounded to milliseconds, the
// TSDB's resolution) or an RFC 3339 timestamp.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(t)
		frac = math.Round(frac*1000) / 1000
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case minTimeFormatted:
		return minTime, nil
	case maxTimeFormatted:
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// timeParam reads an optional time parameter.
func timeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time value for '%s': %w", name, err)
	}
	return t, nil
}

// parseDuration reads float seconds ("15", "0.5") or a Prometheus duration
// ("15s", "1m30s").
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ns := d * float64(time.Second)
		if ns > float64(math.MaxInt64) || ns < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ns), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// parseLimit reads the limit parameter; 0 means no limit.
func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	limit, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if limit < 0 {
		return 0, errors.New("limit must be non-negative")
	}
	return limit, nil
}

// hintLimit asks the storage for one item more than the limit, so that
// truncation can be detected and reported as a warning.
func hintLimit(limit int) int {
	if limit > 0 && limit < math.MaxInt {
		return limit + 1
	}
	return limit
}

// errTruncated is the warning Prometheus attaches to limited results.
var errTruncated = errors.New("results truncated due to limit")

// parseMatchers parses match[] selectors. A selector matching the empty
// string on every label would select every series in the TSDB, so it is
// refused as Prometheus does.
func (a *API) parseMatchers(selectors []string) ([][]*labels.Matcher, error) {
	sets, err := a.parser.ParseMetricSelectors(selectors)
	if err != nil {
		return nil, err
	}
	for _, set := range sets {
		if !hasNonEmptyMatcher(set) {
			return nil, errors.New("match[] must contain at least one non-empty matcher")
		}
	}
	return sets, nil
}

func hasNonEmptyMatcher(set []*labels.Matcher) bool {
	for _, m := range set {
		if m != nil && !m.Matches("") {
			return true
		}
	}
	return false
}

// seriesParams are the parameters shared by the metadata endpoints
// (series, labels, label values).
type seriesParams struct {
	limit       int
	start, end  time.Time
	matcherSets [][]*labels.Matcher
}

// parseSeriesParams reads limit, start, end and match[]. Prometheus wraps
// a bad match[] as an invalid parameter only for /series, hence
// wrapMatchErr.
func (a *API) parseSeriesParams(r *http.Request, wrapMatchErr bool) (seriesParams, *apiError) {
	var (
		p   seriesParams
		err error
	)
	if p.limit, err = parseLimit(r.FormValue("limit")); err != nil {
		return p, paramError(err, "limit")
	}
	if p.start, err = timeParam(r, "start", minTime); err != nil {
		return p, paramError(err, "start")
	}
	if p.end, err = timeParam(r, "end", maxTime); err != nil {
		return p, paramError(err, "end")
	}
	if p.matcherSets, err = a.parseMatchers(r.Form["match[]"]); err != nil {
		if wrapMatchErr {
			return p, paramError(err, "match[]")
		}
		return p, &apiError{errBadData, err}
	}
	return p, nil
}
