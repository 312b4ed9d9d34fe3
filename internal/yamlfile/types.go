package yamlfile

import (
	"fmt"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written the Prometheus way ("30s", "1h30m",
// "2d").
type Duration time.Duration

// UnmarshalYAML reports a bad value as a located type error, so the loader
// keeps collecting errors instead of stopping at the first.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := model.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		return NodeError(n, "invalid duration %q: use a number and a unit such as 30s, 5m or 2h", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back in the same notation.
func (d Duration) MarshalYAML() (any, error) { return model.Duration(d).String(), nil }

func (d Duration) String() string { return model.Duration(d).String() }

// MarshalText writes the duration as configured, for JSON too.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads the same notation, so a config stored as JSON (an
// alert channel in the store) takes the durations a YAML file takes.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := model.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a number and a unit such as 30s, 5m or 2h", b)
	}
	*d = Duration(v)
	return nil
}

// Bytes is a size such as "64MB" or "1GiB" (units are powers of two, as in
// Prometheus's body_size_limit).
type Bytes int64

// UnmarshalYAML parses a size, located on error as Duration does.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	v, err := units.ParseBase2Bytes(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 {
		return NodeError(n, "invalid size %q: use a number and a unit such as 512KB or 64MB", n.Value)
	}
	*b = Bytes(v)
	return nil
}

// MarshalYAML writes the size back with a unit.
func (b Bytes) MarshalYAML() (any, error) { return units.Base2Bytes(b).String(), nil }

// NodeError reports a bad value at its node, as a type error so that decoding
// goes on and every problem of a file is reported at once.
func NodeError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: ", n.Line, n.Column) + fmt.Sprintf(format, args...)}}
}
