package rules

import (
	_ "embed"
)

// BuiltinFile names the built-in pack in errors, the API and the state.
const BuiltinFile = "builtin/gateway.yml"

//go:embed builtin/gateway.yml
var builtinPack []byte

// Builtin returns the embedded rule pack used when no rule_files are set.
func Builtin() (*Groups, error) { return Parse(builtinPack, BuiltinFile) }

// BuiltinSource is the pack's text, to write out and adapt.
func BuiltinSource() []byte { return builtinPack }
