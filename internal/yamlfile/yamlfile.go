// Package yamlfile decodes YAML files strictly and reports every problem
// with its file, line and column, including problems found after decoding.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a config file, located so an editor can jump to it.
type Error struct {
	File         string
	Line, Column int // Column is 0 when only the line is known
	Msg          string
}

// Error is one line: a newline in the message (yaml.v3 quotes tags and
// values as written) is shown escaped, so that a list of errors has one
// per line.
func (e *Error) Error() string {
	msg := strings.ReplaceAll(e.Msg, "\n", `\n`)
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, msg)
	case e.Column == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, msg)
}

// Errors is every problem found in one file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Document keeps the parsed node tree so that errors found after decoding,
// by validation, can still point at a line and column.
type Document struct {
	file string
	src  []byte
	root *yaml.Node
}

// Decode fills v from b strictly: unknown keys and wrong types are errors,
// all of them reported at once. file names the source in errors.
func Decode(b []byte, file string, v any) (*Document, error) {
	d := &Document{file: file, src: b}
	if file == "" {
		d.file = "<config>"
	}
	return d, d.decode(b, v)
}

var (
	syntaxLine   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	typeLine     = regexp.MustCompile(`(?s)^line (\d+): (?:column (\d+): )?(.*)$`) // a quoted value may span lines
	unknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	// The excerpt runs to the last "` into ", as the value may hold
	// backticks itself.
	valueExcerpt = regexp.MustCompile("(?s) `(.*)`( into )")
)

// decode fills v strictly: unknown keys and wrong types are errors, all of
// them reported at once rather than the first.
func (d *Document) decode(b []byte, v any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		if m := syntaxLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return Errors{{File: d.file, Line: line, Msg: m[2]}}
		}
		return Errors{{File: d.file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	d.root = &root
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return Errors{d.plainError(err)}
	}
	var errs Errors
	for _, msg := range te.Errors {
		errs = append(errs, d.typeError(msg))
	}
	return errs
}

// plainError is an error a type's own unmarshaler returned without a
// line, located at the value it quotes (see locateQuoted).
func (d *Document) plainError(err error) *Error {
	e := &Error{File: d.file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	e.Line, e.Column = d.locateQuoted(e.Msg)
	return e
}

// locateQuoted finds the one scalar of the document whose value the
// message quotes ("not a valid duration string: \"30\""); nothing when no
// scalar, or more than one, has that value.
func (d *Document) locateQuoted(msg string) (line, column int) {
	m := quotedValue.FindString(msg)
	if m == "" {
		return 0, 0
	}
	v, err := strconv.Unquote(m)
	if err != nil {
		return 0, 0
	}
	var found []*yaml.Node
	walk(d.root, func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Value == v {
			found = append(found, n)
		}
	})
	if len(found) != 1 {
		return 0, 0
	}
	return found[0].Line, found[0].Column
}

var quotedValue = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

func walk(n *yaml.Node, f func(*yaml.Node)) {
	if n == nil {
		return
	}
	f(n)
	for _, c := range n.Content {
		walk(c, f)
	}
}

// typeError turns one of yaml.v3's "line N: ..." messages into a located
// Error, finding the column from the node tree yaml.v3 does not report.
func (d *Document) typeError(msg string) *Error {
	m := typeLine.FindStringSubmatch(msg)
	if m == nil {
		e := &Error{File: d.file, Msg: valueExcerpt.ReplaceAllString(msg, "$2")}
		e.Line, e.Column = d.locateQuoted(e.Msg)
		return e
	}
	line, _ := strconv.Atoi(m[1])
	e := &Error{File: d.file, Line: line, Msg: m[3]}
	if m[2] != "" {
		e.Column, _ = strconv.Atoi(m[2])
		return e
	}
	if f := unknownField.FindStringSubmatch(m[3]); f != nil {
		e.Msg = fmt.Sprintf("unknown field %q", f[1])
		e.Column = column(d.root, line, f[1], true)
		return e
	}
	// yaml.v3 quotes the start of the offending value. It finds the node
	// among several on one line (flow mappings), and then goes: the value
	// may be a secret written in the wrong place.
	want := ""
	if v := valueExcerpt.FindStringSubmatch(e.Msg); v != nil {
		want = strings.TrimSuffix(v[1], "...")
		e.Msg = valueExcerpt.ReplaceAllString(e.Msg, "$2")
	}
	e.Column = column(d.root, line, want, false)
	if e.Column == 0 {
		e.Column = column(d.root, line, "", false)
	}
	return e
}

// column finds the first node on line whose role (mapping key or value)
// matches, and whose text is want when want is set.
func column(n *yaml.Node, line int, want string, key bool) int {
	if n == nil {
		return 0
	}
	for i, c := range n.Content {
		isKey := n.Kind == yaml.MappingNode && i%2 == 0
		if c.Line == line && c.Kind == yaml.ScalarNode && isKey == key && (want == "" || c.Value == want || !key && strings.HasPrefix(c.Value, want)) {
			return c.Column
		}
		if col := column(c, line, want, key); col != 0 {
			return col
		}
	}
	return 0
}

// PathError is a validation problem at a path of mapping keys (string) and
// sequence indexes (int) from the document root.
type PathError struct {
	Path []any
	Msg  string
}

// At makes a PathError.
func At(msg string, path ...any) PathError { return PathError{Path: path, Msg: msg} }

// Locate positions validation errors at the deepest node of their path that
// exists, so a missing field is reported at the mapping that lacks it.
func (d *Document) Locate(pes []PathError) Errors {
	var errs Errors
	for _, pe := range pes {
		n := d.Node(pe.Path...)
		e := &Error{File: d.file, Msg: pe.Msg}
		if n != nil {
			e.Line, e.Column = n.Line, n.Column
		}
		errs = append(errs, e)
	}
	return errs
}

// File is the name errors carry.
func (d *Document) File() string { return d.file }

// ErrorIn locates a problem at byte offset within the value of the scalar
// n, such as a PromQL parse error inside an expr, so the column points into
// the expression itself.
func (d *Document) ErrorIn(n *yaml.Node, offset int, msg string) *Error {
	e := &Error{File: d.file, Line: n.Line, Column: n.Column, Msg: msg}
	if n.Kind != yaml.ScalarNode || offset < 0 || offset > len(n.Value) {
		return e
	}
	before := n.Value[:offset]
	switch n.Style {
	case yaml.LiteralStyle:
		// The text starts on the line after the | indicator, each line
		// indented as the block's first line is.
		lines := strings.Count(before, "\n")
		e.Line = n.Line + 1 + lines
		e.Column = d.indent(e.Line) + 1 + len(before) - (strings.LastIndex(before, "\n") + 1)
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if !strings.Contains(before, "\n") {
			e.Column = n.Column + 1 + offset
		}
	case 0: // plain
		if !strings.Contains(before, "\n") {
			e.Column = n.Column + offset
		}
	}
	return e
}

// indent is the number of leading spaces of 1-based line.
func (d *Document) indent(line int) int {
	lines := strings.SplitN(string(d.src), "\n", line+1)
	if line-1 >= len(lines) {
		return 0
	}
	l := lines[line-1]
	return len(l) - len(strings.TrimLeft(l, " "))
}

// Node returns the deepest node along path that exists, nil for an empty
// document.
func (d *Document) Node(path ...any) *yaml.Node {
	if d.root == nil || len(d.root.Content) == 0 {
		return nil
	}
	n := d.root.Content[0]
	for _, p := range path {
		next := child(n, p)
		if next == nil {
			break
		}
		n = next
	}
	return n
}

func child(n *yaml.Node, p any) *yaml.Node {
	switch p := p.(type) {
	case string:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p {
				return n.Content[i+1]
			}
		}
	case int:
		if n.Kind == yaml.SequenceNode && p < len(n.Content) {
			return n.Content[p]
		}
	}
	return nil
}
