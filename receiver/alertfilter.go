package receiver

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"

	"github.com/gatewarden/gatewarden/config"
)

// alertFilter is the query of GET /api/v2/alerts and /alerts/groups, as
// Alertmanager reads it: filter matchers every alert must match, a
// receiver regex (anchored), and which states to include, each true
// unless sent as false. unprocessed is read and, as in Alertmanager
// 0.34, does not filter: an alert the dispatcher holds is processed.
type alertFilter struct {
	matchers                           labels.Matchers
	receiver                           *regexp.Regexp
	active, silenced, inhibited, muted bool
}

func parseAlertFilter(q url.Values) (alertFilter, error) {
	f := alertFilter{}
	for _, s := range q["filter"] {
		ms, err := config.ParseMatchers(s)
		if err != nil {
			return f, err
		}
		f.matchers = append(f.matchers, ms...)
	}
	if r, ok := q["receiver"]; ok && len(r) > 0 {
		re, err := regexp.Compile("^(?:" + r[0] + ")$")
		if err != nil {
			return f, fmt.Errorf("failed to parse receiver param: %w", err)
		}
		f.receiver = re
	}
	for _, b := range []struct {
		name string
		to   *bool
	}{{"active", &f.active}, {"silenced", &f.silenced}, {"inhibited", &f.inhibited}, {"muted", &f.muted}, {"unprocessed", new(bool)}} {
		v, err := boolParam(q, b.name)
		if err != nil {
			return f, err
		}
		*b.to = v
	}
	return f, nil
}

// boolParam is a boolean query parameter, true when left out.
func boolParam(q url.Values, name string) (bool, error) {
	s := q.Get(name)
	if s == "" {
		return true, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%s: %q is not a boolean", name, s)
	}
	return v, nil
}

// takes reports whether an alert with labels ls and these suppressions
// passes the filter's matchers and states.
func (f alertFilter) takes(ls model.LabelSet, silencedBy, inhibitedBy []string) bool {
	if !f.matchers.Matches(ls) {
		return false
	}
	active := len(silencedBy) == 0 && len(inhibitedBy) == 0
	return (f.active || !active) && (f.silenced || len(silencedBy) == 0) && (f.inhibited || len(inhibitedBy) == 0)
}

// receiverTakes reports whether any of names passes the receiver regex.
func (f alertFilter) receiverTakes(names ...string) bool {
	if f.receiver == nil {
		return true
	}
	for _, n := range names {
		if f.receiver.MatchString(n) {
			return true
		}
	}
	return false
}
