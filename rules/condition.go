package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// Func names a window function, in Open-Falcon's vocabulary.
type Func string

// The window functions. Each applies to the points of one output series of
// a rule's expression that fall in the window.
const (
	FuncAll    Func = "all"    // every point holds
	FuncHappen Func = "happen" // at least Count points hold
	FuncMax    Func = "max"    // the largest point holds
	FuncMin    Func = "min"    // the smallest point holds
	FuncAvg    Func = "avg"    // the mean holds
	FuncSum    Func = "sum"    // the sum holds
	FuncDiff   Func = "diff"   // latest minus some earlier point holds (signed)
	FuncPDiff  Func = "pdiff"  // the same in percent of that earlier point; earlier zeros skipped
	FuncNoData Func = "nodata" // a series seen before has no point in the window
)

var funcs = map[Func]bool{FuncAll: true, FuncHappen: true, FuncMax: true, FuncMin: true, FuncAvg: true, FuncSum: true, FuncDiff: true, FuncPDiff: true, FuncNoData: true}

// UnmarshalYAML rejects unknown function names where they are written.
func (f *Func) UnmarshalYAML(n *yaml.Node) error {
	if !funcs[Func(n.Value)] {
		return yamlfile.NodeError(n, "unknown window function %q: use all, happen, max, min, avg, sum, diff, pdiff or nodata", n.Value)
	}
	*f = Func(n.Value)
	return nil
}

// Op compares a window's result with a threshold.
type Op string

// Tolerance is how close two values must be for == and != (and only them).
const Tolerance = 1e-4

var ops = map[Op]bool{">": true, ">=": true, "==": true, "<": true, "<=": true, "!=": true}

// UnmarshalYAML rejects unknown operators where they are written.
func (o *Op) UnmarshalYAML(n *yaml.Node) error {
	if !ops[Op(n.Value)] {
		return yamlfile.NodeError(n, "unknown operator %q: use >, >=, ==, <, <= or !=", n.Value)
	}
	*o = Op(n.Value)
	return nil
}

// Window is either the last Points points ("#3") or the points of the last
// Duration ("3m"): exactly one is set.
type Window struct {
	Points   int
	Duration time.Duration
}

// ParseWindow reads "#N" or a Prometheus duration.
func ParseWindow(s string) (Window, error) {
	if n, ok := strings.CutPrefix(s, "#"); ok {
		p, err := strconv.Atoi(n)
		if err != nil || p < 1 {
			return Window{}, fmt.Errorf("invalid window %q: #N needs a whole number of points, at least 1", s)
		}
		return Window{Points: p}, nil
	}
	d, err := model.ParseDuration(s)
	if err != nil || d <= 0 {
		return Window{}, fmt.Errorf("invalid window %q: use #N for the last N points or a duration such as 3m", s)
	}
	return Window{Duration: time.Duration(d)}, nil
}

func (w Window) String() string {
	if w.Points > 0 {
		return "#" + strconv.Itoa(w.Points)
	}
	return model.Duration(w.Duration).String()
}

// UnmarshalYAML parses the window where it is written.
func (w *Window) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseWindow(n.Value)
	if err != nil {
		return yamlfile.NodeError(n, "%s", err)
	}
	*w = v
	return nil
}

// MarshalYAML writes the window back in its notation.
func (w Window) MarshalYAML() (any, error) { return w.String(), nil }

// MarshalText writes the window in its notation for JSON too.
func (w Window) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// Condition is a window function over each output series of a rule's
// expression, compared with a threshold. Value is the default threshold;
// levels and runtime overrides supply others.
type Condition struct {
	Func   Func    `yaml:"function" json:"function"`
	Window Window  `yaml:"window" json:"window"`
	Op     Op      `yaml:"op,omitempty" json:"op,omitempty"`
	Value  float64 `yaml:"value" json:"value"`
	// Count is how many points must hold, for happen.
	Count int `yaml:"count,omitempty" json:"count,omitempty"`
	// Min is a floor under every threshold of a > or >= condition: a
	// target below it never fires, however low an override sets a
	// threshold (ez-api's minimum request and token counts).
	Min float64 `yaml:"min,omitempty" json:"min,omitempty"`
}

// MinLevel addresses a condition's Min in runtime overrides; it is no
// severity.
const MinLevel Severity = -1

// Floor raises a threshold to min for the operators Min applies to.
func (c *Condition) Floor(threshold, min float64) float64 {
	if c.Min != 0 && (c.Op == ">" || c.Op == ">=") && threshold < min {
		return min
	}
	return threshold
}

// Point is one sample of a series: milliseconds and value.
type Point struct {
	T int64
	V float64
}
