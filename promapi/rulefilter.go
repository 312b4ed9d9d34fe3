package promapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/gatewarden/gatewarden/evaluator"
)

// ruleFilter is what /api/v1/rules narrows its answer by, with Prometheus's
// parameters and their semantics: names, groups and files as sets, match[]
// on the rules' own labels, type, exclude_alerts, and pages of groups.
// match[] sees only the labels a rule is written with: the severity that
// levels or escalate give an alert is not the rule's, as in Prometheus.
type ruleFilter struct {
	names, groups, files map[string]bool
	matchers             [][]*labels.Matcher
	alerts, records      bool // which rule types to list
	excludeAlerts        bool
	groupLimit           int
	nextToken            string
}

func (a *API) parseRuleFilter(r *http.Request) (*ruleFilter, *apiError) {
	f := &ruleFilter{names: setOf(r.Form["rule_name[]"]), groups: setOf(r.Form["rule_group[]"]), files: setOf(r.Form["file[]"])}
	var err error
	if f.matchers, err = a.parseMatchers(r.Form["match[]"]); err != nil {
		return nil, &apiError{errBadData, err}
	}
	q := r.URL.Query()
	typ := strings.ToLower(q.Get("type"))
	if typ != "" && typ != "alert" && typ != "record" {
		return nil, paramError(fmt.Errorf("not supported value %q", typ), "type")
	}
	f.alerts, f.records = typ != "record", typ != "alert"
	if s := strings.ToLower(q.Get("exclude_alerts")); s != "" {
		if f.excludeAlerts, err = strconv.ParseBool(s); err != nil {
			return nil, paramError(fmt.Errorf("error converting exclude_alerts: %w", err), "exclude_alerts")
		}
	}
	f.nextToken = q.Get("group_next_token")
	limit := q.Get("group_limit")
	if f.nextToken != "" && limit == "" {
		return nil, paramError(errors.New("group_limit needs to be present in order to paginate over the groups"), "group_next_token")
	}
	if limit != "" {
		n, err := strconv.ParseInt(limit, 10, 32)
		if err != nil {
			return nil, paramError(fmt.Errorf("group_limit needs to be a valid number: %w", err), "group_limit")
		}
		if n <= 0 {
			return nil, paramError(errors.New("group_limit needs to be greater than 0"), "group_limit")
		}
		f.groupLimit = int(n)
	}
	return f, nil
}

func setOf(values []string) map[string]bool {
	s := make(map[string]bool, len(values))
	for _, v := range values {
		s[v] = true
	}
	return s
}

func (f *ruleFilter) group(g *evaluator.Group) bool {
	return (len(f.groups) == 0 || f.groups[g.Name()]) && (len(f.files) == 0 || f.files[g.File()])
}

func (f *ruleFilter) rule(v evaluator.RuleView) bool {
	r := v.Rule
	name := r.Record
	if r.IsAlert() {
		name = r.Alert
	}
	if len(f.names) > 0 && !f.names[name] {
		return false
	}
	if r.IsAlert() && !f.alerts || !r.IsAlert() && !f.records {
		return false
	}
	return len(f.matchers) == 0 || matchesAnySet(labels.FromMap(r.Labels), f.matchers)
}

// matchesAnySet says whether ls satisfies every matcher of at least one set.
func matchesAnySet(ls labels.Labels, sets [][]*labels.Matcher) bool {
	for _, set := range sets {
		if matchAll(ls, set) {
			return true
		}
	}
	return false
}

// groupToken names a group (by its file;name key) in a page's next token
// as Prometheus does, so a client may carry it from one to the other.
func groupToken(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}
