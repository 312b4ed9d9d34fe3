package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is one gwbench run: the JSON file, the table and the chart are
// all rendered from it.
type Report struct {
	Started   time.Time `json:"started"`
	Duration  float64   `json:"duration_seconds"`
	Host      Host      `json:"host"`
	Scenarios []string  `json:"scenarios"`
	Figures   []Figure  `json:"figures"`
	Latencies []Dist    `json:"latencies,omitempty"`
	Notes     []string  `json:"notes,omitempty"`
}

// Host says what the figures were measured on; a load average above zero
// before the run means the machine was shared.
type Host struct {
	CPUs        int     `json:"cpus"`
	GoVersion   string  `json:"go_version"`
	LoadBefore  float64 `json:"load_before"`
	LoadAfter   float64 `json:"load_after"`
	GatewardenV string  `json:"gatewarden_version,omitempty"`
}

// Figure is one measured number.
type Figure struct {
	Key     string  `json:"key"`
	Size    int     `json:"size,omitempty"` // series, rules or alerts per request
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"`
	Context string  `json:"context,omitempty"` // the settings that bound it
}

// ID names a figure across runs: its key and size.
func (f Figure) ID() string {
	if f.Size == 0 {
		return f.Key
	}
	return f.Key + "[" + formatSize(f.Size) + "]"
}

// lowerIsBetter decides the direction of a regression: rates and
// speedups (×) are better high, everything else (time, memory, growth,
// shares of Prometheus's) low.
func (f Figure) lowerIsBetter() bool {
	return !strings.HasSuffix(f.Unit, "/s") && f.Unit != "×"
}

func (r *Report) add(f Figure) { r.Figures = append(r.Figures, f) }

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func writeJSON(path string, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func readReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// writeTable prints each figure beside its target.
func writeTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\ttarget\tok\tcontext")
	for _, f := range r.Figures {
		target, ok := "—", ""
		if t, has := targetFor(f.Key, f.Size); has {
			target, ok = t.String(), "yes"
			if !t.Met(f.Value) {
				ok = "NO"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.ID(), formatValue(f.Value, f.Unit), target, ok, f.Context)
	}
	return tw.Flush()
}

// missed counts figures that do not reach their target.
func missed(r *Report) int {
	n := 0
	for _, f := range r.Figures {
		if t, ok := targetFor(f.Key, f.Size); ok && !t.Met(f.Value) {
			n++
		}
	}
	return n
}

// formatValue prints a value in its unit at a readable scale.
func formatValue(v float64, unit string) string {
	switch unit {
	case "s":
		return formatSeconds(v)
	case "B":
		if v >= 10*1024*1024 {
			return strconv.FormatFloat(v/(1024*1024), 'f', 1, 64) + " MiB"
		}
		return groupThousands(v) + " B"
	case "%":
		return strconv.FormatFloat(v, 'f', 1, 64) + " %"
	}
	if math.Abs(v) >= 10_000 {
		return strconv.FormatFloat(v/1000, 'f', 1, 64) + "k " + unit
	}
	if v == math.Trunc(v) {
		return groupThousands(v) + " " + unit
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + " " + unit
}

func formatSeconds(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0 s"
	case a < 0.001:
		return strconv.FormatFloat(v*1e6, 'f', 0, 64) + " µs"
	case a < 1:
		return strconv.FormatFloat(v*1e3, 'g', 3, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + " s"
}

// groupThousands writes a whole number with thousands separators.
func groupThousands(v float64) string {
	s := strconv.FormatFloat(math.Round(math.Abs(v)), 'f', 0, 64)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if v < 0 {
		s = "-" + s
	}
	return s
}

// formatSize writes sizes as the flags take them: 10k, 1000, 1.5M.
func formatSize(n int) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 10_000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// parseSizes reads a size list flag: "10k,100k,300k", "100,1000,5000".
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, orig := range splitList(s) {
		part, mult := orig, 1.0
		switch {
		case strings.HasSuffix(part, "k"):
			mult, part = 1e3, strings.TrimSuffix(part, "k")
		case strings.HasSuffix(part, "M"):
			mult, part = 1e6, strings.TrimSuffix(part, "M")
		}
		v, err := strconv.ParseFloat(part, 64)
		if err != nil || v <= 0 || v*mult != math.Trunc(v*mult) || v*mult > 1e8 {
			return nil, fmt.Errorf("bad size %q: want a positive whole number such as 1000, 10k or 1.5M", orig)
		}
		out = append(out, int(v*mult))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no sizes in %q", s)
	}
	return out, nil
}
