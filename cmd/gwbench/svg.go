package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// The chart: one row per latency distribution on a shared logarithmic time
// axis (latencies here span 0.1 ms to seconds), a bar from p50 to p99,
// marks at p50, p90 and p99 and a whisker to the maximum. Written by hand
// so the tool needs no plotting library.
const (
	svgWidth  = 900
	svgLabelW = 260
	svgRowH   = 28
	svgTop    = 40
	svgBottom = 50
	svgRight  = 30
)

// logAxis maps seconds to x over whole decades.
type logAxis struct{ lo, hi float64 } // decades: 10^lo .. 10^hi

func newLogAxis(ds []Dist) logAxis {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, d := range ds {
		if d.N == 0 {
			continue
		}
		lo = math.Min(lo, math.Log10(math.Max(d.P50, 1e-6)))
		hi = math.Max(hi, math.Log10(math.Max(d.Max, 1e-6)))
	}
	if math.IsInf(lo, 1) {
		return logAxis{-3, 0}
	}
	a := logAxis{math.Floor(lo), math.Ceil(hi)}
	if a.hi <= a.lo {
		a.hi = a.lo + 1
	}
	return a
}

func (a logAxis) x(seconds float64) float64 {
	plot := float64(svgWidth - svgLabelW - svgRight)
	v := math.Log10(math.Max(seconds, math.Pow(10, a.lo)))
	return float64(svgLabelW) + plot*(v-a.lo)/(a.hi-a.lo)
}

func writeSVG(w io.Writer, r *Report) error {
	ds := r.Latencies
	height := svgTop + svgRowH*max(1, len(ds)) + svgBottom
	ax := newLogAxis(ds)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">gwbench latencies, %s (bar p50–p99, marks p50 p90 p99, whisker to max)</text>`+"\n",
		html.EscapeString(r.Started.UTC().Format("2006-01-02 15:04 UTC")))
	axisY := svgTop + svgRowH*max(1, len(ds))
	writeAxis(&b, ax, axisY)
	for i, d := range ds {
		writeRow(&b, ax, d, svgTop+svgRowH*i)
	}
	if len(ds) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no latency measured in this run</text>`+"\n", svgLabelW, svgTop+svgRowH/2)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeAxis(b *strings.Builder, ax logAxis, y int) {
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", svgLabelW, y, svgWidth-svgRight, y)
	for dec := ax.lo; dec <= ax.hi; dec++ {
		x := ax.x(math.Pow(10, dec))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, svgTop-5, x, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, y+18, formatSeconds(math.Pow(10, dec)))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">latency (log scale)</text>`+"\n",
		(svgLabelW+svgWidth-svgRight)/2, y+38)
}

func writeRow(b *strings.Builder, ax logAxis, d Dist, top int) {
	mid := top + svgRowH/2
	fmt.Fprintf(b, `<text x="10" y="%d">%s (n=%d)</text>`+"\n", mid+4, html.EscapeString(d.ID()), d.N)
	if d.N == 0 {
		return
	}
	x50, x90, x99, xMax := ax.x(d.P50), ax.x(d.P90), ax.x(d.P99), ax.x(d.Max)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#555"/>`+"\n", x99, mid, xMax, mid)
	fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#9ecae1" stroke="#3182bd"><title>%s</title></rect>`+"\n",
		x50, top+6, math.Max(1, x99-x50), svgRowH-12, html.EscapeString(distTitle(d)))
	for _, x := range []float64{x50, x90, x99} {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#08519c" stroke-width="2"/>`+"\n", x, top+4, x, top+svgRowH-4)
	}
}

func distTitle(d Dist) string {
	return fmt.Sprintf("%s: p50 %s, p90 %s, p99 %s, max %s, n=%d", d.ID(),
		formatSeconds(d.P50), formatSeconds(d.P90), formatSeconds(d.P99), formatSeconds(d.Max), d.N)
}
