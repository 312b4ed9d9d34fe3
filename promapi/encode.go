package promapi

import (
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/stats"
)

// Query results are written by hand rather than through encoding/json for
// two reasons. Output: promql's MarshalJSON methods format sample values
// with 'f' only (1e-9 becomes "0.000000001", 1e300 three hundred digits)
// and encode an empty Vector as null, where Prometheus's API writes
// "1e-09" and []. Speed: encoding/json calls MarshalJSON once per point
// and re-validates every returned slice; BenchmarkEncodeMatrix measures
// the difference.

// jsonAppender is implemented by response data that can be large enough
// for reflection to matter.
type jsonAppender interface {
	appendJSON(b []byte) ([]byte, error)
}

// appendData appends the JSON of an endpoint's data.
func appendData(b []byte, data any) ([]byte, error) {
	if ja, ok := data.(jsonAppender); ok {
		return ja.appendJSON(b)
	}
	j, err := json.Marshal(data)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

// queryData is the "data" of /query and /query_range.
type queryData struct {
	value parser.Value
	stats stats.QueryStats // nil unless asked for
}

func (q queryData) appendJSON(b []byte) ([]byte, error) {
	v := q.value
	b = append(b, `{"resultType":`...)
	b = appendString(b, string(v.Type()))
	b = append(b, `,"result":`...)
	switch v := v.(type) {
	case promql.Matrix:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendSeries(b, s)
		}
		b = append(b, ']')
	case promql.Vector:
		b = append(b, '[')
		for i, s := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendSample(b, s)
		}
		b = append(b, ']')
	default:
		// Prometheus marshals scalars and strings with their own
		// MarshalJSON methods, so their output is kept as it is.
		j, err := json.Marshal(v)
		if err != nil {
			return b, err
		}
		b = append(b, j...)
	}
	if q.stats != nil {
		j, err := json.Marshal(q.stats)
		if err != nil {
			return b, err
		}
		b = append(b, `,"stats":`...)
		b = append(b, j...)
	}
	return append(b, '}'), nil
}

func appendSeries(b []byte, s promql.Series) []byte {
	b = append(b, `{"metric":`...)
	b = appendLabels(b, s.Metric)
	if len(s.Floats) > 0 {
		b = append(b, `,"values":[`...)
		for i, p := range s.Floats {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloatPoint(b, p.T, p.F)
		}
		b = append(b, ']')
	}
	if len(s.Histograms) > 0 {
		b = append(b, `,"histograms":[`...)
		for i, p := range s.Histograms {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendHistogramPoint(b, p.T, p.H)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendSample(b []byte, s promql.Sample) []byte {
	b = append(b, `{"metric":`...)
	b = appendLabels(b, s.Metric)
	if s.H == nil {
		b = append(b, `,"value":`...)
		b = appendFloatPoint(b, s.T, s.F)
	} else {
		b = append(b, `,"histogram":`...)
		b = appendHistogramPoint(b, s.T, s.H)
	}
	return append(b, '}')
}

// appendFloatPoint writes [1435781451.781,"1"].
func appendFloatPoint(b []byte, t int64, f float64) []byte {
	b = append(b, '[')
	b = appendTimestamp(b, t)
	b = append(b, ',')
	b = appendFloat(b, f)
	return append(b, ']')
}

func appendHistogramPoint(b []byte, t int64, h *histogram.FloatHistogram) []byte {
	b = append(b, '[')
	b = appendTimestamp(b, t)
	b = append(b, ',')
	b = appendHistogram(b, h)
	return append(b, ']')
}

// appendTimestamp writes milliseconds as decimal seconds without going
// through a float, as Prometheus does: 1435781451781 → 1435781451.781.
func appendTimestamp(b []byte, t int64) []byte {
	if t < 0 {
		b = append(b, '-')
		t = -t
	}
	b = strconv.AppendInt(b, t/1000, 10)
	if frac := t % 1000; frac != 0 {
		b = append(b, '.')
		if frac < 100 {
			b = append(b, '0')
		}
		if frac < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, frac, 10)
	}
	return b
}

// appendFloat writes a sample value as a JSON string, because JSON numbers
// cannot hold NaN and ±Inf; exponent form only for very small or large
// magnitudes, as encoding/json would for a number.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = append(b, '"')
	b = strconv.AppendFloat(b, f, format, -1, 64)
	return append(b, '"')
}

// appendHistogram writes a native histogram as
// {"count":"42","sum":"3.5","buckets":[[boundaries,"lower","upper","count"],...]}
// where boundaries is 0 (left open), 1 (right open), 2 (open) or 3 (closed).
func appendHistogram(b []byte, h *histogram.FloatHistogram) []byte {
	b = append(b, `{"count":`...)
	b = appendFloat(b, h.Count)
	b = append(b, `,"sum":`...)
	b = appendFloat(b, h.Sum)
	found := false
	it := h.AllBucketIterator()
	for it.Next() {
		bucket := it.At()
		if bucket.Count == 0 {
			continue // Empty buckets carry no information.
		}
		if found {
			b = append(b, ',')
		} else {
			b = append(b, `,"buckets":[`...)
			found = true
		}
		boundaries := 2
		switch {
		case bucket.LowerInclusive && bucket.UpperInclusive:
			boundaries = 3
		case bucket.LowerInclusive:
			boundaries = 1
		case bucket.UpperInclusive:
			boundaries = 0
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(boundaries), 10)
		b = append(b, ',')
		b = appendFloat(b, bucket.Lower)
		b = append(b, ',')
		b = appendFloat(b, bucket.Upper)
		b = append(b, ',')
		b = appendFloat(b, bucket.Count)
		b = append(b, ']')
	}
	if found {
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendLabels(b []byte, ls labels.Labels) []byte {
	b = append(b, '{')
	first := true
	ls.Range(func(l labels.Label) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, l.Name)
		b = append(b, ':')
		b = appendString(b, l.Value)
	})
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Unlike encoding/json it leaves
// <, > and & alone, as Prometheus does for label values; invalid UTF-8
// becomes U+FFFD so the output is always valid JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// buffer recycles response buffers: range query responses run to
// megabytes and would otherwise be regrown from scratch for every request.
type buffer struct{ b []byte }

var bufferPool = sync.Pool{New: func() any { return &buffer{b: make([]byte, 0, 4096)} }}

// Buffers above this size are dropped rather than pinned in the pool.
const maxPooledBuffer = 16 << 20

func getBuffer() *buffer { return bufferPool.Get().(*buffer) }

func putBuffer(buf *buffer) {
	if cap(buf.b) > maxPooledBuffer {
		return
	}
	buf.b = buf.b[:0]
	bufferPool.Put(buf)
}
