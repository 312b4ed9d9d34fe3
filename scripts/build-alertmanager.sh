#!/usr/bin/env bash
# Builds Alertmanager, the version in go.mod, from its module source into
# bin/alertmanager, for the receiver comparisons in docs/benchmarks.md. The
# module has no built UI (ui/app/dist), so a stub page stands in for it.
#   scripts/build-alertmanager.sh && RECEIVER=alertmanager AM=bin/alertmanager scripts/measure-receiver.sh
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(go list -m -f '{{.Version}}' github.com/prometheus/alertmanager)
src=$(go mod download -json "github.com/prometheus/alertmanager@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
work=$(mktemp -d -t alertmanager-src.XXXXXX)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src/." "$work"
chmod -R u+w "$work"
mkdir -p "$work/ui/app/dist"
echo '<!doctype html><title>Alertmanager</title><p>UI not built' >"$work/ui/app/dist/index.html"
mkdir -p bin
(cd "$work" && go build -o "$OLDPWD/bin/alertmanager" ./cmd/alertmanager)
echo "bin/alertmanager: Alertmanager $version"
