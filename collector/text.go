package collector

import (
	"bytes"
	"io"
	"math"
	"strconv"
	"unsafe"

	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/value"
)

// The text format is read as it arrives, a window at a time, instead of
// into a buffer the size of the body. A line whose series the cache knows
// is split and appended here; everything else (metadata, new series, lines
// that are not in canonical form) goes to Prometheus's own parser in runs
// of consecutive lines, so what lands is what textparse makes of the body.
// FuzzTextMatchesParser holds the two paths to each other.

// minWindow is the read size: large enough that a refill is rare per
// scrape, small beside the ~10 MB body of a 100k-series target.
const minWindow = 64 << 10

// window is the unread part of a body, grown only for a line longer than it.
type window struct {
	r    io.Reader
	buf  []byte
	off  int // start of the next line in buf
	eof  bool
	size int
}

func (w *window) reset(r io.Reader, size int) {
	w.r, w.off, w.eof, w.size = r, 0, false, size
	w.buf = w.buf[:0]
}

// next returns the bounds of the next whole line in buf, without its '\n';
// ok is false when buf holds no whole line (fill, unless eof).
func (w *window) next() (s, e int, ok bool) {
	if w.off >= len(w.buf) {
		return 0, 0, false
	}
	s = w.off
	if i := bytes.IndexByte(w.buf[s:], '\n'); i >= 0 {
		w.off = s + i + 1
		return s, s + i, true
	}
	if w.eof { // the last line needs no newline
		w.off = len(w.buf)
		return s, len(w.buf), true
	}
	return 0, 0, false
}

// fill drops buf before keep and reads more; shift is how far what was
// kept moved down.
func (w *window) fill(keep int) (shift int, err error) {
	n := copy(w.buf, w.buf[keep:])
	w.buf, w.off = w.buf[:n], w.off-keep
	if cap(w.buf)-n < max(w.size/2, 1) {
		grown := make([]byte, n, max(w.size, 2*cap(w.buf)))
		copy(grown, w.buf)
		w.buf = grown
	}
	m, err := w.r.Read(w.buf[n:cap(w.buf)])
	w.buf = w.buf[:n+m]
	if err == io.EOF {
		w.eof, err = true, nil
	}
	return keep, err
}

// textState is what a loop keeps between scrapes of a text target: buffers
// only, so a steady scrape allocates nothing.
type textState struct {
	win      window
	run      []byte // a run of lines for the parser, after the TYPE line in effect
	typeLine []byte // the last # TYPE line read
}

// appendText reads a text-format body from r into b. A run of lines the
// fast path cannot take is handed to the parser whole before the next line
// it can, so samples land in body order.
func (l *loop) appendText(b *batch, r io.Reader) error {
	s := &l.text
	s.win.reset(r, l.windowSize)
	s.typeLine = s.typeLine[:0]
	run := -1 // where the pending run starts in the window
	// After a line that may continue on the next (a quoted string with a
	// newline in it), lines are no longer records: the rest of the body
	// goes to the parser in one run, as it would have entirely before.
	whole := false
	flush := func(end int) error {
		if run < 0 {
			return nil
		}
		s.run = append(s.run, s.win.buf[run:end]...)
		run = -1
		p := textparse.NewPromParser(s.run, l.symbols, false)
		return b.parse(p)
	}
	for {
		ls, le, ok := s.win.next()
		if !ok {
			if s.win.eof {
				return flush(len(s.win.buf))
			}
			keep := s.win.off
			if whole {
				keep = run
			} else if err := flush(s.win.off); err != nil {
				return err
			}
			shift, err := s.win.fill(keep)
			if err != nil {
				return err
			}
			if whole {
				run -= shift
			}
			continue
		}
		if whole {
			continue
		}
		line := s.win.buf[ls:le]
		if series, v, ts, hasTS, ok := splitLine(line); ok {
			if ce := b.lookup(l.keyOf(series)); ce != nil {
				if err := flush(ls); err != nil {
					return err
				}
				var tp *int64
				if hasTS {
					tp = &ts
				}
				if err := b.add(ce, tp, v, nil, nil); err != nil {
					return err
				}
				continue
			}
		} else if mayContinue(line) {
			whole = true
		}
		if run < 0 {
			run = ls
			s.run = append(s.run[:0], s.typeLine...)
		}
		if isTypeLine(line) {
			s.typeLine = append(append(s.typeLine[:0], line...), '\n')
		}
	}
}

// splitLine takes a series line in the canonical form Prometheus's client
// libraries write: name and labels, one space, the value, optionally one
// space and a timestamp in milliseconds. Anything else is left to the
// parser (ok false), which knows every form the format allows.
func splitLine(line []byte) (series []byte, v float64, ts int64, hasTS, ok bool) {
	end := seriesEnd(line)
	if end < 0 || end >= len(line) || line[end] != ' ' {
		return nil, 0, 0, false, false
	}
	rest := line[end+1:]
	val := rest
	if sp := bytes.IndexByte(rest, ' '); sp >= 0 {
		val, rest = rest[:sp], rest[sp+1:]
		if !digits(rest) {
			return nil, 0, 0, false, false
		}
		var err error
		if ts, err = strconv.ParseInt(yolo(rest), 10, 64); err != nil {
			return nil, 0, 0, false, false
		}
		hasTS = true
	}
	// As textparse: no hex exponents or digit separators, canonical NaN.
	if len(val) == 0 || bytes.ContainsAny(val, "pP_") {
		return nil, 0, 0, false, false
	}
	v, err := strconv.ParseFloat(yolo(val), 64)
	if err != nil {
		return nil, 0, 0, false, false
	}
	if math.IsNaN(v) {
		v = math.Float64frombits(value.NormalNaN)
	}
	return line[:end], v, ts, hasTS, true
}

// seriesEnd is where the name and labels at the start of line end, or -1.
// Quotes are followed as the lexer follows them, so a '}' or ' ' in a label
// value does not end the series.
func seriesEnd(line []byte) int {
	i := 0
	for i < len(line) && isNameByte(line[i], i == 0) {
		i++
	}
	if i < len(line) && line[i] == '{' {
		quoted := false
		for i++; i < len(line); i++ {
			switch c := line[i]; {
			case quoted && c == '\\':
				i++
			case c == '"':
				quoted = !quoted
			case !quoted && c == '}':
				return i + 1
			}
		}
		return -1
	}
	if i == 0 {
		return -1
	}
	return i
}

func isNameByte(c byte, first bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':' || !first && c >= '0' && c <= '9'
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// mayContinue says whether a line the fast path refused might not end at
// its newline: a quoted string may hold one, and the lexer stops at a NUL.
// Comment lines end at their newline unless a quoted metric name follows
// HELP or TYPE.
func mayContinue(line []byte) bool {
	if bytes.IndexByte(line, 0) >= 0 {
		return true
	}
	if len(line) == 0 || bytes.IndexByte(line, '"') < 0 {
		return false
	}
	if line[0] != '#' {
		return true
	}
	_, name, ok := metaLine(line)
	return ok && len(name) > 0 && name[0] == '"'
}

// isTypeLine says whether line is a # TYPE line, whose type decides how
// textparse spells le and quantile values in the series after it.
func isTypeLine(line []byte) bool {
	kw, _, ok := metaLine(line)
	return ok && kw == "TYPE"
}

// metaLine splits a # HELP or # TYPE line as the lexer reads it (blanks
// required after '#' and after the keyword) into the keyword and what
// follows it; ok is false for any other line, a plain comment included.
func metaLine(line []byte) (keyword string, rest []byte, ok bool) {
	if len(line) == 0 || line[0] != '#' {
		return "", nil, false
	}
	after := bytes.TrimLeft(line[1:], " \t")
	if len(after) == len(line)-1 || len(after) < 5 || after[4] != ' ' && after[4] != '\t' {
		return "", nil, false
	}
	switch kw := string(after[:4]); kw {
	case "HELP", "TYPE":
		return kw, bytes.TrimLeft(after[4:], " \t"), true
	}
	return "", nil, false
}

func yolo(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
