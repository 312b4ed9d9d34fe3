package gatewaysim

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TraceColumns is the header of a CPU trace: one row per instance and
// sample, as the metrics agent of seed 002 reports every 10 s and
// `gatewardenctl throttle record` writes.
var TraceColumns = []string{"timestamp", "tenant_id", "plugin_id", "instance_id", "cpu"}

// defaultTraceStep is how long the last row of a trace holds when no
// instance has two rows to tell the sampling interval by: the agent's 10 s.
const defaultTraceStep = 10 * time.Second

// Trace is a parsed CPU trace. Offsets are from its first timestamp, which
// a replay maps to the scenario's start.
type Trace struct {
	Series []TraceSeries
	// Step is the sampling interval: the smallest gap between two rows of
	// one instance. The last row holds for one Step, then the trace ends.
	Step time.Duration
	// Length is the last row's offset plus Step: how long a replay at
	// speed 1 runs.
	Length time.Duration
}

// TraceSeries is one instance's rows in time order. Line is the first line
// that names it, for errors about the instance itself.
type TraceSeries struct {
	TenantID, PluginID, InstanceID string
	Line                           int
	Points                         []TracePoint
}

// TracePoint is one row: the CPU ratio from Offset on.
type TracePoint struct {
	Offset time.Duration
	CPU    float64
}

// At returns the series' value at offset: its last row at or before it,
// held until the next. ok is false before its first row.
func (ts *TraceSeries) At(offset time.Duration) (cpu float64, ok bool) {
	i, found := slices.BinarySearchFunc(ts.Points, offset, func(p TracePoint, o time.Duration) int { return cmp.Compare(p.Offset, o) })
	if found {
		return ts.Points[i].CPU, true
	}
	if i == 0 {
		return 0, false
	}
	return ts.Points[i-1].CPU, true
}

// traceRow is a row as read, before the first timestamp is known.
type traceRow struct {
	at   time.Time
	key  instanceKey
	cpu  float64
	line int
}

// ParseTrace reads a CPU trace in CSV: the header row of TraceColumns (in
// any order), then rows of a timestamp in Unix seconds or RFC 3339, the
// instance's three labels and a CPU ratio within [0, 1]. Rows may come in
// any order; lines starting with # are comments. Errors name the line as
// name:line, name being the file or "trace".
func ParseTrace(name string, r io.Reader) (*Trace, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = len(TraceColumns)
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	lineErr := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, line, fmt.Sprintf(format, args...))
	}
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty trace: want a header %s and rows", name, strings.Join(TraceColumns, ","))
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	line, _ := cr.FieldPos(0)
	col, err := traceColumns(header)
	if err != nil {
		return nil, lineErr(line, "%v", err)
	}
	var rows []traceRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(name, err)
		}
		line, _ := cr.FieldPos(0)
		row, err := parseTraceRow(rec, col)
		if err != nil {
			return nil, lineErr(line, "%v", err)
		}
		row.line = line
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: the trace has a header but no rows", name)
	}
	return buildTrace(name, rows)
}

// csvError puts a csv.ParseError in the name:line form of the others.
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d: %v", name, pe.Line, pe.Err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// traceColumns maps each of TraceColumns to its index in the header.
func traceColumns(header []string) (map[string]int, error) {
	col := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(TraceColumns, h) {
			return nil, fmt.Errorf("unknown column %q: the header must name %s", h, strings.Join(TraceColumns, ","))
		}
		if _, dup := col[h]; dup {
			return nil, fmt.Errorf("column %q twice in the header", h)
		}
		col[h] = i
	}
	return col, nil
}

func parseTraceRow(rec []string, col map[string]int) (traceRow, error) {
	field := func(name string) string { return strings.TrimSpace(rec[col[name]]) }
	var row traceRow
	at, err := parseTraceTime(field("timestamp"))
	if err != nil {
		return row, err
	}
	row.at = at
	row.key = instanceKey{field("tenant_id"), field("plugin_id"), field("instance_id")}
	for _, kv := range [][2]string{{"tenant_id", row.key.tenant}, {"plugin_id", row.key.plugin}, {"instance_id", row.key.id}} {
		if kv[1] == "" {
			return row, fmt.Errorf("%s is empty", kv[0])
		}
	}
	v := field("cpu")
	row.cpu, err = strconv.ParseFloat(v, 64)
	if err != nil {
		return row, fmt.Errorf("cpu %q is not a number", v)
	}
	// A ratio: a percentage (95) or a count of cores would replay as
	// nonsense, so it is refused rather than clamped.
	if math.IsNaN(row.cpu) || row.cpu < 0 || row.cpu > 1 {
		return row, fmt.Errorf("cpu must be a ratio within [0, 1], got %s", v)
	}
	return row, nil
}

// parseTraceTime reads Unix seconds (fractions allowed) or RFC 3339.
func parseTraceTime(v string) (time.Time, error) {
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || math.IsInf(secs, 0) || secs < 0 {
			return time.Time{}, fmt.Errorf("timestamp %q is not a time", v)
		}
		whole, frac := math.Modf(secs)
		return time.Unix(int64(whole), int64(math.Round(frac*1e9))).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q is neither Unix seconds nor RFC 3339", v)
	}
	return t.UTC(), nil
}

// buildTrace groups rows by instance, sorts them, rejects two rows for one
// instance and time, and works out the step.
func buildTrace(name string, rows []traceRow) (*Trace, error) {
	first := slices.MinFunc(rows, func(a, b traceRow) int { return a.at.Compare(b.at) }).at
	byKey := map[instanceKey]int{}
	tr := &Trace{}
	lines := [][]int{} // per series, the line of each point, for duplicates
	for _, row := range rows {
		i, ok := byKey[row.key]
		if !ok {
			i = len(tr.Series)
			byKey[row.key] = i
			tr.Series = append(tr.Series, TraceSeries{TenantID: row.key.tenant, PluginID: row.key.plugin, InstanceID: row.key.id, Line: row.line})
			lines = append(lines, nil)
		}
		tr.Series[i].Points = append(tr.Series[i].Points, TracePoint{Offset: row.at.Sub(first), CPU: row.cpu})
		lines[i] = append(lines[i], row.line)
	}
	var last time.Duration
	for i := range tr.Series {
		ts := &tr.Series[i]
		order := indices(len(ts.Points))
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ts.Points[a].Offset, ts.Points[b].Offset) })
		sorted := make([]TracePoint, len(order))
		for j, o := range order {
			sorted[j] = ts.Points[o]
			if j == 0 {
				continue
			}
			gap := sorted[j].Offset - sorted[j-1].Offset
			if gap == 0 {
				return nil, fmt.Errorf("%s:%d: a second row for tenant_id=%q plugin_id=%q instance_id=%q at the time of line %d",
					name, lines[i][o], ts.TenantID, ts.PluginID, ts.InstanceID, lines[i][order[j-1]])
			}
			if tr.Step == 0 || gap < tr.Step {
				tr.Step = gap
			}
		}
		ts.Points = sorted
		last = max(last, sorted[len(sorted)-1].Offset)
	}
	if tr.Step == 0 {
		tr.Step = defaultTraceStep
	}
	tr.Length = last + tr.Step
	return tr, nil
}

// traceReplay is a cpu-trace scenario's resolved trace: the series and,
// per series, the index of its instance.
type traceReplay struct {
	trace     *Trace
	instances []int
	speed     float64
}

// offset is how far into the trace the replay is at now.
func (r *traceReplay) offset(start, now time.Time) time.Duration {
	return time.Duration(float64(now.Sub(start)) * r.speed)
}

// resolveTrace parses a cpu-trace request's CSV and finds its instances.
// The population is fixed from the start (every series exists before any
// scenario), so an instance the sim lacks is refused, naming the line,
// rather than created.
func (s *Sim) resolveTrace(sc *Scenario, req ScenarioRequest) error {
	if req.Target != (Target{}) {
		return fmt.Errorf("scenario %s takes its instances from the trace, not a target", req.Name)
	}
	if strings.TrimSpace(req.Trace) == "" {
		return fmt.Errorf("scenario %s needs a trace: CSV with the header %s", req.Name, strings.Join(TraceColumns, ","))
	}
	name := cmp.Or(req.TraceName, "trace")
	tr, err := ParseTrace(name, strings.NewReader(req.Trace))
	if err != nil {
		return err
	}
	rp := &traceReplay{trace: tr, speed: sc.Params["speed"]}
	for _, ts := range tr.Series {
		idx, ok := s.instIdx[instanceKey{ts.TenantID, ts.PluginID, ts.InstanceID}]
		if !ok {
			return fmt.Errorf("%s:%d: unknown instance tenant_id=%q plugin_id=%q instance_id=%q: the simulation has tenants t1..t%d, plugins tN-plugin1..%d and instances i1..i%d",
				name, ts.Line, ts.TenantID, ts.PluginID, ts.InstanceID, s.opts.Tenants, s.opts.PluginsPerTenant, s.opts.InstancesPerPlugin)
		}
		rp.instances = append(rp.instances, idx)
	}
	sc.replay = rp
	return nil
}

// stepTraces ends a cpu-trace that has run past its trace, then sets each
// traced instance's load to the trace's value at now. A trace wins over a
// cpu-spike on the same instance: it is what was recorded.
func (s *Sim) stepTraces(now time.Time) {
	ended := func(sc *Scenario) bool {
		return sc.replay != nil && sc.replay.offset(sc.StartedAt, now) >= sc.replay.trace.Length
	}
	// Stopping recomputes every master's effects: only when one ended.
	if slices.ContainsFunc(s.scenarios, ended) {
		s.stopScenarios(ended)
	}
	for i := range s.instances {
		s.instances[i].traced = false
	}
	for _, sc := range s.scenarios {
		rp := sc.replay
		if rp == nil {
			continue
		}
		off := rp.offset(sc.StartedAt, now)
		for j, ts := range rp.trace.Series {
			if cpu, ok := ts.At(off); ok {
				in := &s.instances[rp.instances[j]]
				in.trace, in.traced = cpu, true
			}
		}
	}
}

// traceStatus is a cpu-trace's progress for GET /sim/scenario, in trace
// seconds.
func traceStatus(sc *Scenario, now time.Time) map[string]float64 {
	rp := sc.replay
	return map[string]float64{
		"position_seconds": min(rp.offset(sc.StartedAt, now), rp.trace.Length).Seconds(),
		"length_seconds":   rp.trace.Length.Seconds(),
		"instances":        float64(len(rp.trace.Series)),
	}
}
