package backtest

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/evaluator"
	"github.com/gatewarden/gatewarden/internal/yamlfile"
	"github.com/gatewarden/gatewarden/rules"
)

// Set is one --set: a field of the named rules' condition (or of the rule
// itself) and its new value, as written in a rule file.
type Set struct{ Field, Value string }

func (s Set) String() string { return s.Field + "=" + s.Value }

// ParseSet reads field=value.
func ParseSet(s string) (Set, error) {
	f, v, ok := strings.Cut(s, "=")
	f, v = strings.TrimSpace(f), strings.TrimSpace(v)
	if !ok || f == "" || v == "" {
		return Set{}, fmt.Errorf("--set %q: want field=value, e.g. value=0.85", s)
	}
	if setters[f] == nil {
		return Set{}, fmt.Errorf("--set %q: unknown field %q; settable: %s", s, f, strings.Join(slices.Sorted(maps.Keys(setters)), ", "))
	}
	return Set{f, v}, nil
}

// setters change one field of a rule. They check only what the rule
// file's syntax would: the rule is then validated as a file is.
var setters = map[string]func(r *rules.Rule, v string) error{
	"value": func(r *rules.Rule, v string) error {
		if len(r.Levels) > 0 {
			return errors.New("it has levels: set level.critical, level.warning or level.info")
		}
		return onCondition(r, func(c *rules.Condition) error { return parseFloat(v, &c.Value) })
	},
	"min": func(r *rules.Rule, v string) error {
		return onCondition(r, func(c *rules.Condition) error { return parseFloat(v, &c.Min) })
	},
	"function": func(r *rules.Rule, v string) error {
		return onCondition(r, func(c *rules.Condition) error { c.Func = rules.Func(v); return nil })
	},
	"op": func(r *rules.Rule, v string) error {
		return onCondition(r, func(c *rules.Condition) error { c.Op = rules.Op(v); return nil })
	},
	"window": func(r *rules.Rule, v string) error {
		return onCondition(r, func(c *rules.Condition) (err error) { c.Window, err = rules.ParseWindow(v); return err })
	},
	"count": func(r *rules.Rule, v string) error {
		return onCondition(r, func(c *rules.Condition) (err error) { c.Count, err = strconv.Atoi(v); return err })
	},
	"for":             func(r *rules.Rule, v string) error { return parseDuration(v, &r.For) },
	"keep_firing_for": func(r *rules.Rule, v string) error { return parseDuration(v, &r.KeepFiringFor) },
	"level.critical":  func(r *rules.Rule, v string) error { return onLevel(r, rules.Critical, v) },
	"level.warning":   func(r *rules.Rule, v string) error { return onLevel(r, rules.Warning, v) },
	"level.info":      func(r *rules.Rule, v string) error { return onLevel(r, rules.Info, v) },
}

func onCondition(r *rules.Rule, f func(*rules.Condition) error) error {
	if r.Condition == nil {
		return errors.New("it has no condition: its threshold is part of its expression")
	}
	return f(r.Condition)
}

func onLevel(r *rules.Rule, sev rules.Severity, v string) error {
	for i := range r.Levels {
		if r.Levels[i].Level == sev {
			return parseFloat(v, &r.Levels[i].Value)
		}
	}
	return fmt.Errorf("it has no %s level", sev)
}

func parseFloat(s string, into *float64) (err error) {
	*into, err = strconv.ParseFloat(s, 64)
	return err
}

func parseDuration(s string, into *yamlfile.Duration) error {
	d, err := model.ParseDuration(s)
	*into = yamlfile.Duration(d)
	return err
}

// ruleSet is the rules a backtest runs, written out for the evaluator to
// load as the daemon loads rule files.
type ruleSet struct {
	files    []string        // the rule files written
	alerting []string        // the alerting rules run, sorted
	own      map[string]bool // the metric names the evaluator writes
	exprs    []string        // every expression, to know what data they read
}

// prepareRules loads the rules the daemon would run under cfg, keeps the
// named alerting rules (all without names) and every recording rule,
// applies the sets to the named ones, and writes them to dir.
func prepareRules(cfg *config.Config, names []string, sets []Set, dir string) (*ruleSet, error) {
	files, err := evaluator.RuleFiles(cfg)
	if err != nil {
		return nil, fmt.Errorf("backtest: loading the rules: %w", err)
	}
	if err := checkNames(files, names); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	rs := &ruleSet{own: map[string]bool{"ALERTS": true, "ALERTS_FOR_STATE": true}}
	for i, f := range slices.Sorted(maps.Keys(files)) {
		if err := rs.keep(files[f], names, sets); err != nil {
			return nil, err
		}
		// Written and read back as any rule file: a --set that makes a
		// rule invalid is refused as the file would be.
		b, err := yaml.Marshal(files[f])
		if err != nil {
			return nil, err
		}
		out := filepath.Join(dir, fmt.Sprintf("%02d-%s", i, filepath.Base(f)))
		if err := os.WriteFile(out, b, 0o600); err != nil {
			return nil, err
		}
		if _, err := rules.ParseFile(out); err != nil {
			return nil, fmt.Errorf("backtest: the rules of %s after --set are invalid: %w", f, err)
		}
		rs.files = append(rs.files, out)
	}
	slices.Sort(rs.alerting)
	rs.alerting = slices.Compact(rs.alerting)
	return rs, nil
}

// keep filters the groups of one file in place and applies the sets.
func (rs *ruleSet) keep(gs *rules.Groups, names []string, sets []Set) error {
	groups := gs.Groups[:0]
	for _, g := range gs.Groups {
		kept := g.Rules[:0]
		for _, r := range g.Rules {
			if r.IsAlert() && len(names) > 0 && !slices.Contains(names, r.Alert) {
				continue
			}
			if r.IsAlert() {
				for _, s := range sets {
					if err := setters[s.Field](&r, s.Value); err != nil {
						return fmt.Errorf("backtest: --set %s on rule %s: %w", s, r.Alert, err)
					}
				}
				rs.alerting = append(rs.alerting, r.Alert)
			} else {
				rs.own[r.Record] = true
			}
			rs.exprs = append(rs.exprs, r.Expr)
			kept = append(kept, r)
		}
		if len(kept) > 0 {
			g.Rules = kept
			groups = append(groups, g)
		}
	}
	gs.Groups = groups
	return nil
}

// checkNames refuses names that are no alerting rule of the files.
func checkNames(files map[string]*rules.Groups, names []string) error {
	alerting, recording := map[string]bool{}, map[string]bool{}
	for _, gs := range files {
		for _, g := range gs.Groups {
			for _, r := range g.Rules {
				if r.IsAlert() {
					alerting[r.Alert] = true
				} else {
					recording[r.Record] = true
				}
			}
		}
	}
	var errs []error
	for _, n := range names {
		switch {
		case alerting[n]:
		case recording[n]:
			errs = append(errs, fmt.Errorf("backtest: --rule %s is a recording rule; name alerting rules", n))
		default:
			errs = append(errs, fmt.Errorf("backtest: --rule %s: no such alerting rule; the rules are %s", n, strings.Join(slices.Sorted(maps.Keys(alerting)), ", ")))
		}
	}
	return errors.Join(errs...)
}
