package api

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// openAPIMethods are the keys of an OpenAPI path item that are operations.
var openAPIMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// loadOpenAPI reads docs/api.yaml as plain maps and lists.
func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../docs/api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/api.yaml: %v", err)
	}
	return doc
}

// openAPIOp is one documented operation with its path item.
type openAPIOp struct {
	path     string
	pathItem map[string]any
	op       map[string]any
}

// documentedRoutes maps "METHOD /path" (as in Patterns) to its operation.
func documentedRoutes(t *testing.T, doc map[string]any) map[string]openAPIOp {
	t.Helper()
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("docs/api.yaml has no paths")
	}
	out := map[string]openAPIOp{}
	for path, v := range paths {
		item, _ := v.(map[string]any)
		for _, m := range openAPIMethods {
			if op, ok := item[m].(map[string]any); ok {
				out[strings.ToUpper(m)+" "+path] = openAPIOp{path, item, op}
			}
		}
	}
	return out
}

func TestOpenAPIRoutes(t *testing.T) {
	documented := documentedRoutes(t, loadOpenAPI(t))
	served := New(Options{}).Patterns()
	for _, p := range served {
		if _, ok := documented[p]; !ok {
			t.Errorf("route %q is served but not documented in docs/api.yaml", p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(documented)) {
		if !slices.Contains(served, p) {
			t.Errorf("route %q is documented in docs/api.yaml but not served", p)
		}
	}
}

var pathTemplateParam = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPIPathParams(t *testing.T) {
	doc := loadOpenAPI(t)
	documented := documentedRoutes(t, doc)
	for _, route := range slices.Sorted(maps.Keys(documented)) {
		o := documented[route]
		var inTemplate []string
		for _, m := range pathTemplateParam.FindAllStringSubmatch(o.path, -1) {
			inTemplate = append(inTemplate, m[1])
		}
		// Operation parameters add to (or override) the path item's.
		var declared []string
		for _, list := range []any{o.pathItem["parameters"], o.op["parameters"]} {
			params, _ := list.([]any)
			for _, p := range params {
				p := resolveParam(t, doc, route, p)
				if p["in"] != "path" {
					continue
				}
				name, _ := p["name"].(string)
				if p["required"] != true {
					t.Errorf("%s: path parameter %q must be required", route, name)
				}
				if !slices.Contains(declared, name) {
					declared = append(declared, name)
				}
			}
		}
		for _, name := range inTemplate {
			if !slices.Contains(declared, name) {
				t.Errorf("%s: path parameter {%s} is not declared", route, name)
			}
		}
		for _, name := range declared {
			if !slices.Contains(inTemplate, name) {
				t.Errorf("%s: declares path parameter %q that is not in the path", route, name)
			}
		}
	}
}

// resolveParam follows a parameter's $ref, if any.
func resolveParam(t *testing.T, doc map[string]any, route string, p any) map[string]any {
	t.Helper()
	m, _ := p.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		target, err := resolveRef(doc, ref)
		if err != nil {
			t.Errorf("%s: %v", route, err)
			return nil
		}
		m, _ = target.(map[string]any)
	}
	return m
}

// resolveRef follows a local reference such as "#/components/schemas/Alert".
func resolveRef(doc map[string]any, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/components/")
	if !ok {
		return nil, fmt.Errorf("$ref %q does not point into #/components/", ref)
	}
	var cur any = doc["components"]
	for _, key := range strings.Split(rest, "/") {
		key = strings.NewReplacer("~1", "/", "~0", "~").Replace(key)
		m, _ := cur.(map[string]any)
		if cur, ok = m[key]; !ok {
			return nil, fmt.Errorf("$ref %q points at nothing", ref)
		}
	}
	return cur, nil
}

func TestOpenAPIRefs(t *testing.T) {
	doc := loadOpenAPI(t)
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, err := resolveRef(doc, ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(at+"."+k, x[k])
			}
		case map[any]any: // a mapping with a non-string key, such as an unquoted 200
			for k, e := range x {
				walk(fmt.Sprintf("%s.%v", at, k), e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", at, i), e)
			}
		}
	}
	walk("", doc)
}
