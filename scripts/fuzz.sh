#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target of the repository, one after another,
# each for FUZZTIME, and reports per target its package, duration and the
# executions go reported last. It exits non-zero if any target failed; a
# failing input is left in the package's testdata/fuzz/<Target>/, where
# `go test` replays it from then on.
#
# Environment:
#   FUZZTIME      per target, a Go duration or Nx (default 10m)
#   FUZZ_MATCH    only targets whose "package.Target" matches this ERE
#   FUZZ_PARALLEL fuzzing workers per target (default: go's, GOMAXPROCS)
#   FUZZ_FLAGS    more flags for go test, e.g. -fuzzminimizetime=10s
#   FUZZ_LOGDIR   where each target's go output is kept (default: a temp dir)
#   FUZZ_VERBOSE  1 streams go's output as well
#   GO            the go command (default: go)
#
# Run from the repository root: ./scripts/fuzz.sh
set -euo pipefail

FUZZTIME=${FUZZTIME:-10m}
FUZZ_MATCH=${FUZZ_MATCH:-}
FUZZ_PARALLEL=${FUZZ_PARALLEL:-}
FUZZ_FLAGS=${FUZZ_FLAGS:-}
FUZZ_VERBOSE=${FUZZ_VERBOSE:-0}
GO=${GO:-go}

if [ ! -f go.mod ]; then
	echo "fuzz.sh: run it from the repository root (no go.mod here)" >&2
	exit 2
fi
FUZZ_LOGDIR=${FUZZ_LOGDIR:-$(mktemp -d "${TMPDIR:-/tmp}/gatewarden-fuzz.XXXXXX")}
mkdir -p "$FUZZ_LOGDIR"

# Targets as "dir name" lines: every func FuzzXxx(f *testing.F) of a
# _test.go file, so a new target is fuzzed without touching this script.
targets=$(
	grep -rl --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git 'func Fuzz' . |
		while IFS= read -r file; do
			dir=$(dirname "$file")
			sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$file" |
				while IFS= read -r name; do
					printf '%s %s\n' "$dir" "$name"
				done
		done | sort -u
)
if [ -n "$FUZZ_MATCH" ]; then
	targets=$(printf '%s\n' "$targets" | while read -r dir name; do
		if printf '%s.%s\n' "${dir#./}" "$name" | grep -Eq -- "$FUZZ_MATCH"; then
			printf '%s %s\n' "$dir" "$name"
		fi
	done)
fi
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz targets found${FUZZ_MATCH:+ matching $FUZZ_MATCH}" >&2
	exit 2
fi

# human prints seconds as 1h2m3s.
human() {
	local s=$1 out=""
	if [ "$s" -ge 3600 ]; then out="$((s / 3600))h"; s=$((s % 3600)); fi
	if [ "$s" -ge 60 ] || [ -n "$out" ]; then out="${out}$((s / 60))m"; s=$((s % 60)); fi
	printf '%s%ss' "$out" "$s"
}

extra=()
if [ -n "$FUZZ_PARALLEL" ]; then extra+=("-parallel=$FUZZ_PARALLEL"); fi
if [ -n "$FUZZ_FLAGS" ]; then
	# shellcheck disable=SC2206 # flags are words on purpose
	extra+=($FUZZ_FLAGS)
fi

echo "fuzz.sh: $(printf '%s\n' "$targets" | wc -l | tr -d ' ') targets, ${FUZZTIME} each; logs in $FUZZ_LOGDIR"
summary=""
failed=0
ran=0
while read -r dir name; do
	pkg=${dir#./}
	ran=$((ran + 1))
	log="$FUZZ_LOGDIR/$(printf '%s' "$pkg" | tr '/' '_').$name.log"
	echo "=== $pkg $name"
	start=$(date +%s)
	set +e
	if [ "$FUZZ_VERBOSE" = 1 ]; then
		"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" ${extra[@]+"${extra[@]}"} "./$pkg" </dev/null 2>&1 | tee "$log"
		rc=${PIPESTATUS[0]}
	else
		"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" ${extra[@]+"${extra[@]}"} "./$pkg" </dev/null >"$log" 2>&1
		rc=$?
	fi
	set -e
	took=$(human $(($(date +%s) - start)))
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2 || true)
	execs=${execs:-0}
	status=ok
	if [ "$rc" -ne 0 ]; then
		status=FAIL
		failed=$((failed + 1))
		# The failure and the input it left in testdata/fuzz.
		grep -v '^fuzz: elapsed' "$log" | tail -n 40
	fi
	line=$(printf '%-4s  %-12s  %-22s  %8s  %12s execs' "$status" "$pkg" "$name" "$took" "$execs")
	echo "$line"
	summary="${summary}${line}"$'\n'
done <<EOF
$targets
EOF

echo
echo "=== summary (FUZZTIME=$FUZZTIME)"
printf '%s' "$summary"
if [ "$failed" -ne 0 ]; then
	echo "fuzz.sh: $failed of $ran targets failed; logs in $FUZZ_LOGDIR" >&2
	exit 1
fi
