package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"
)

func TestSVG(t *testing.T) {
	r := sampleReport()
	r.addDist(newDist("detect.<alert>", 0, []time.Duration{300 * time.Millisecond, time.Second, 2 * time.Second}))
	r.Latencies = append(r.Latencies, Dist{Key: "empty"})
	var a, b bytes.Buffer
	if err := writeSVG(&a, r); err != nil {
		t.Fatal(err)
	}
	if err := writeSVG(&b, r); err != nil || a.String() != b.String() {
		t.Fatal("two renderings of one report differ")
	}
	// Well-formed XML, and what it says.
	dec := xml.NewDecoder(bytes.NewReader(a.Bytes()))
	rects, texts := 0, []string{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, a.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			rects++
		}
		if cd, ok := tok.(xml.CharData); ok && strings.TrimSpace(string(cd)) != "" {
			texts = append(texts, string(cd))
		}
	}
	if rects != 1+2 { // background and one bar per non-empty distribution
		t.Errorf("%d rects, want 3", rects)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"receive.v2.paced[100] (n=3)", "detect.<alert> (n=3)", "empty (n=0)", "10 ms", "1 s", "10 s",
		"detect.<alert>: p50 1 s, p90 2 s, p99 2 s, max 2 s, n=3"} {
		if !strings.Contains(all, want) {
			t.Errorf("chart lacks %q: %s", want, all)
		}
	}
}

func TestLogAxis(t *testing.T) {
	ax := newLogAxis([]Dist{{N: 1, P50: 0.002, Max: 0.5}})
	if ax.lo != -3 || ax.hi != 0 {
		t.Fatalf("axis %+v, want decades 1 ms .. 1 s", ax)
	}
	if x0, x1 := ax.x(0.001), ax.x(1); x0 != svgLabelW || x1 != svgWidth-svgRight {
		t.Errorf("axis ends at %g and %g", x0, x1)
	}
	if ax := newLogAxis(nil); ax.hi <= ax.lo {
		t.Errorf("empty axis %+v", ax)
	}
}
