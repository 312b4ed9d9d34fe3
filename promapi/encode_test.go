package promapi

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

func TestAppendFloat(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, `"0"`},
		{1, `"1"`},
		{-1.5, `"-1.5"`},
		{1.0 / 3, `"0.3333333333333333"`},
		{123456789012, `"123456789012"`},
		{1e-6, `"0.000001"`},
		{1e-9, `"1e-09"`},
		{-2.5e-7, `"-2.5e-07"`},
		{1e20, `"100000000000000000000"`},
		{1e21, `"1e+21"`},
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"+Inf"`},
		{math.Inf(-1), `"-Inf"`},
	} {
		if got := string(appendFloat(nil, tc.f)); got != tc.want {
			t.Errorf("appendFloat(%v) = %s, want %s", tc.f, got, tc.want)
		}
	}
}

func TestAppendTimestamp(t *testing.T) {
	for _, tc := range []struct {
		ms   int64
		want string
	}{
		{0, "0"},
		{1, "0.001"},
		{10, "0.010"},
		{1500, "1.500"},
		{-1500, "-1.500"},
		{-1, "-0.001"},
		{1767225900123, "1767225900.123"},
		{1767225900000, "1767225900"},
	} {
		if got := string(appendTimestamp(nil, tc.ms)); got != tc.want {
			t.Errorf("appendTimestamp(%d) = %s, want %s", tc.ms, got, tc.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"tab\tnl\ncr\r", `"tab\tnl\ncr\r"`},
		{"\x00\x1f", `"\u0000\u001f"`},
		// Prometheus does not HTML-escape label values.
		{"<a&b>", `"<a&b>"`},
		{"héllo ✓ \u2028", "\"héllo ✓ \u2028\""},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
	} {
		got := appendString(nil, tc.in)
		if string(got) != tc.want {
			t.Errorf("appendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendString(%q) is not JSON: %v", tc.in, err)
		}
	}
}

func TestAppendHistogram(t *testing.T) {
	h := &histogram.FloatHistogram{
		Schema:          0,
		Count:           9,
		Sum:             10.5,
		ZeroThreshold:   0.001,
		ZeroCount:       1,
		PositiveSpans:   []histogram.Span{{Offset: 0, Length: 3}},
		PositiveBuckets: []float64{2, 0, 3},
		NegativeSpans:   []histogram.Span{{Offset: 1, Length: 1}},
		NegativeBuckets: []float64{3},
	}
	// Negative buckets come first, then the zero bucket (closed), then the
	// positive ones; empty buckets are left out.
	want := `{"count":"9","sum":"10.5","buckets":[` +
		`[1,"-2","-1","3"],[3,"-0.001","0.001","1"],[0,"0.5","1","2"],[0,"2","4","3"]]}`
	if got := string(appendHistogram(nil, h)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	empty := &histogram.FloatHistogram{Count: 0, Sum: 0}
	if got, want := string(appendHistogram(nil, empty)), `{"count":"0","sum":"0"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}

	vec := promql.Vector{{Metric: labels.FromStrings("le", "x"), T: 1000, H: empty}}
	b, err := queryData{value: vec}.appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"resultType":"vector","result":[{"metric":{"le":"x"},"histogram":[1,{"count":"0","sum":"0"}]}]}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	mat := promql.Matrix{{Metric: labels.EmptyLabels(), Floats: []promql.FPoint{{T: 1, F: 2}}, Histograms: []promql.HPoint{{T: 2, H: empty}}}}
	b, err = queryData{value: mat}.appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"resultType":"matrix","result":[{"metric":{},"values":[[0.001,"2"]],"histograms":[[0.002,{"count":"0","sum":"0"}]]}]}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// benchMatrix is 1,000 series of 240 points, a 1h panel at 15s steps.
func benchMatrix() promql.Matrix {
	m := make(promql.Matrix, 1000)
	for i := range m {
		pts := make([]promql.FPoint, 240)
		for j := range pts {
			pts[j] = promql.FPoint{T: 1767225600000 + int64(j)*15000, F: float64(i*j) / 7}
		}
		m[i] = promql.Series{
			Metric: labels.FromStrings("__name__", "gateway_requests_total", "instance", "gw-1:9100", "job", "gateway", "master", "m"+string(rune('a'+i%26))),
			Floats: pts,
		}
	}
	return m
}

// BenchmarkEncodeMatrix compares encoding/json (through promql's
// MarshalJSON methods) with the hand-written encoder.
func BenchmarkEncodeMatrix(b *testing.B) {
	m := benchMatrix()
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = (queryData{value: m}).appendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
