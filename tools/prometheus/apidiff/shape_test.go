package apidiff

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// shape is the set of key paths of a JSON document, each with the kind of
// the value there ("data.result[].metric.code:string"). Array elements
// share the path "[]", so an array's shape is the union of its elements'.
// Values themselves are left out: the two servers may legitimately order
// or time things differently, but a client parsing one must be able to
// parse the other.
type shape map[string]bool

func shapeOf(body []byte) (shape, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON %q: %w", body, err)
	}
	s := shape{}
	s.add("", v)
	return s, nil
}

func (s shape) add(path string, v any) {
	switch v := v.(type) {
	case map[string]any:
		s[path+":object"] = true
		for k, e := range v {
			s.add(join(path, k), e)
		}
	case []any:
		s[path+":array"] = true
		for _, e := range v {
			s.add(path+"[]", e)
		}
	case string:
		s[path+":string"] = true
	case json.Number:
		s[path+":number"] = true
	case bool:
		s[path+":bool"] = true
	case nil:
		s[path+":null"] = true
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// minus lists, sorted, the paths of s that other lacks.
func (s shape) minus(other shape) []string {
	var out []string
	for _, p := range slices.Sorted(maps.Keys(s)) {
		if !other[p] {
			out = append(out, p)
		}
	}
	return out
}
