// Package mixin renders gatewarden's monitoring mixin (the jsonnet in this
// directory) into the files a central Prometheus and Grafana load: rule
// files under mixin/generated and dashboards under dashboards/. The files
// are committed; make mixin regenerates them and the tests fail when they
// drift from the jsonnet.
package mixin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	jsonnet "github.com/google/go-jsonnet"
	"github.com/prometheus/prometheus/model/rulefmt"
	"gopkg.in/yaml.v3"

	"github.com/gatewarden/gatewarden/rules"
)

// Paths of the rendered files, relative to the module root.
const (
	AlertsFile    = "mixin/generated/alerts.yaml"
	RulesFile     = "mixin/generated/rules.yaml"
	DashboardsDir = "dashboards"
)

const header = "# Generated from mixin/ by `make mixin`: edit the jsonnet, not this file.\n"

// Render evaluates the mixin under root (the module root) and returns the
// rendered files by path relative to root.
func Render(root string) (map[string][]byte, error) {
	dir := filepath.Join(root, "mixin")
	vm := newVM(root)
	out := map[string][]byte{}
	for file, entry := range map[string]string{AlertsFile: "alerts.jsonnet", RulesFile: "rules.jsonnet"} {
		b, err := ruleFile(vm, filepath.Join(dir, entry))
		if err != nil {
			return nil, err
		}
		out[file] = b
	}
	js, err := vm.EvaluateFile(filepath.Join(dir, "dashboards.jsonnet"))
	if err != nil {
		return nil, fmt.Errorf("dashboards.jsonnet: %w", err)
	}
	var boards map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &boards); err != nil {
		return nil, fmt.Errorf("dashboards.jsonnet: %w", err)
	}
	for name, raw := range boards {
		b, err := indentJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		out[DashboardsDir+"/"+name] = b
	}
	return out, nil
}

// newVM evaluates jsonnet with the mixin's directory on the import path.
func newVM(root string) *jsonnet.VM {
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{filepath.Join(root, "mixin")}})
	return vm
}

// ruleFile renders a jsonnet entry point of rule groups as a Prometheus rule
// file, written as gatewardenctl rules export writes its own.
func ruleFile(vm *jsonnet.VM, entry string) ([]byte, error) {
	js, err := vm.EvaluateFile(entry)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(entry), err)
	}
	// JSON is YAML, so rulefmt's yaml tags and durations apply as they are.
	var groups rulefmt.RuleGroups
	if err := yaml.Unmarshal([]byte(js), &groups); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(entry), err)
	}
	for i := range groups.Groups {
		for j := range groups.Groups[i].Rules {
			r := &groups.Groups[i].Rules[j]
			r.Expr = strings.TrimSpace(r.Expr)
		}
	}
	var b bytes.Buffer
	b.WriteString(header)
	if err := rules.WriteRuleGroups(&b, &groups); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// indentJSON re-encodes a dashboard with Go's number formatting: jsonnet
// writes 0.9 as 0.90000000000000002.
func indentJSON(raw []byte) ([]byte, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
