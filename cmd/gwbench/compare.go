package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// Delta is one figure in two runs.
type Delta struct {
	ID         string
	Old, New   *Figure
	Change     float64 // relative, new vs old; NaN when either is missing or old is 0
	Regression bool
}

// compareReports pairs the figures of two runs by ID, in the new run's
// order and then those only in the old one. A figure regresses when it
// moved in its worse direction by more than tolerance (0.1 = 10 %).
func compareReports(old, cur *Report, tolerance float64) []Delta {
	byID := make(map[string]*Figure, len(old.Figures))
	for i := range old.Figures {
		byID[old.Figures[i].ID()] = &old.Figures[i]
	}
	var out []Delta
	seen := map[string]bool{}
	for i := range cur.Figures {
		n := &cur.Figures[i]
		d := Delta{ID: n.ID(), New: n, Old: byID[n.ID()], Change: math.NaN()}
		seen[d.ID] = true
		if d.Old != nil && d.Old.Value != 0 {
			d.Change = (n.Value - d.Old.Value) / math.Abs(d.Old.Value)
			worse := d.Change
			if !n.lowerIsBetter() {
				worse = -worse
			}
			d.Regression = worse > tolerance
		}
		out = append(out, d)
	}
	for i := range old.Figures {
		if o := &old.Figures[i]; !seen[o.ID()] {
			out = append(out, Delta{ID: o.ID(), Old: o, Change: math.NaN()})
		}
	}
	return out
}

// writeDeltas prints the comparison and returns the number of regressions.
func writeDeltas(w io.Writer, deltas []Delta, tolerance float64) (int, error) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\told\tnew\tchange\t")
	regressions := 0
	for _, d := range deltas {
		oldV, newV, change, flag := "—", "—", "", ""
		if d.Old != nil {
			oldV = formatValue(d.Old.Value, d.Old.Unit)
		}
		if d.New != nil {
			newV = formatValue(d.New.Value, d.New.Unit)
		}
		switch {
		case d.Old == nil:
			change = "new"
		case d.New == nil:
			change = "gone"
		case !math.IsNaN(d.Change):
			change = fmt.Sprintf("%+.1f %%", 100*d.Change)
		}
		if d.Regression {
			flag = "REGRESSION"
			regressions++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, oldV, newV, change, flag)
	}
	if err := tw.Flush(); err != nil {
		return regressions, err
	}
	_, err := fmt.Fprintf(w, "%d regression(s) beyond %.0f %%\n", regressions, 100*tolerance)
	return regressions, err
}
