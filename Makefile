# gatewarden: the two commands a newcomer needs are `make demo` and `make test`.
GO       ?= go
BIN      ?= bin
PKG      := github.com/prometheus/common/version
# The VERSION file's version, or the release tag (without its "v") when the
# commit is tagged; the commit itself is the revision.
VERSION  ?= $(shell git describe --tags --exact-match 2>/dev/null | sed 's/^v//' | grep . || cat VERSION)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH   ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X $(PKG).Version=$(VERSION) -X $(PKG).Revision=$(REVISION) -X $(PKG).Branch=$(BRANCH) \
            -X $(PKG).BuildUser=$(shell id -un 2>/dev/null)@$(shell hostname 2>/dev/null) \
            -X $(PKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
COMMANDS := gatewarden gatewardenctl gatewaysim gwbench

.PHONY: all build test test-deps lint demo bench bench-full bench-micro clean mixin soak fuzz prometheus

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(COMMANDS))

# test installs what the tests need, checks the tree is tidy and formatted,
# and runs every package's tests with the race detector, then those of
# tools/prometheus (a module of its own, which ./... does not reach): the
# differential test of promapi against Prometheus's web/api/v1.
test: test-deps lint
	$(GO) test -race -count=1 -timeout 30m ./...
	$(GO) test -C tools/prometheus -race -count=1 ./...

# test-deps also provides PostgreSQL's server binaries for the store's
# contract tests, which start a throw-away cluster of their own; the install
# (Debian, as root, as in CI) is skipped when initdb and pg_ctl are present.
# Likewise Debian's chromium, which the status console's browser tests drive
# headless.
test-deps:
	$(GO) mod download
	@# promtool of the pinned Prometheus release, for the tests that drive it:
	@# its own module (tools/prometheus), downloaded and built once here so the
	@# tests find it in the build cache.
	$(GO) build -C tools/prometheus -o /dev/null github.com/prometheus/prometheus/cmd/promtool
	@# Prometheus itself, likewise: the remote_write tests send to it.
	$(GO) build -C tools/prometheus -o /dev/null github.com/prometheus/prometheus/cmd/prometheus
	@if ls /usr/lib/postgresql/*/bin/initdb /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "test-deps: installing PostgreSQL for the store tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql; \
	else \
	  echo "test-deps: PostgreSQL server binaries missing and cannot install them (need root and apt-get);"; \
	  echo "           install the postgresql package or set GATEWARDEN_TEST_DATABASE_URL, or the store tests fail"; \
	fi
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "test-deps: installing chromium for the console's browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	else \
	  echo "test-deps: chromium missing and cannot install it (need root and apt-get); the console tests fail without it"; \
	fi
	@# VictoriaMetrics: the remote_write tests and the fleet script send to it.
	@if command -v victoria-metrics >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "test-deps: installing victoria-metrics for the remote_write tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends victoria-metrics; \
	else \
	  echo "test-deps: victoria-metrics missing and cannot install it (need root and apt-get); the remote_write tests fail without it"; \
	fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -C tools/prometheus ./...
	$(GO) mod tidy -diff
	$(GO) -C tools/prometheus mod tidy -diff

# mixin renders the monitoring mixin (mixin/*.jsonnet) into the committed
# rule files (mixin/generated) and Grafana dashboards (dashboards/); the
# mixin package's tests fail when those drift from the jsonnet.
mixin:
	$(GO) run ./mixin/cmd/render

demo: build
	./scripts/demo.sh

# bench runs the whole-process suite (cmd/gwbench: gatewaysim and gatewarden
# as processes on 127.0.0.1) in a 3-minute selection; bench-full runs every
# size and the 30-minute soak. Results go to $(BIN)/gwbench.json and
# $(BIN)/gwbench.svg; `$(BIN)/gwbench compare old.json new.json` shows what
# moved. bench-micro runs the packages' Go benchmarks once each. Targets,
# figures and the exact commands are kept in docs/benchmarks.md.
BENCH_FLAGS ?=
bench: build prometheus
	$(BIN)/gwbench run --bin=$(BIN) --out=$(BIN)/gwbench.json --svg=$(BIN)/gwbench.svg \
	  --scenarios=ingest,ingest-prom,evaluate,detect,receive,rules-prom,fleet --ingest.series=10k,100k --ingest.duration=20s \
	  --evaluate.rules=100,1000 --evaluate.cycles=3 --detect.reps=10 --receive.duration=5s \
	  --prometheus=$(BIN)/prometheus --rules-prom.series=10k --rules-prom.duration=1m \
	  --ingest-prom.series=10k --ingest-prom.duration=1m --fleet.series=10k --fleet.duration=1m $(BENCH_FLAGS)

# prometheus builds Prometheus of the pinned release into $(BIN), for
# gwbench's rules-prom scenario (--prometheus=$(BIN)/prometheus).
prometheus:
	@mkdir -p $(BIN)
	$(GO) build -C tools/prometheus -o $(abspath $(BIN))/prometheus github.com/prometheus/prometheus/cmd/prometheus

bench-full: build prometheus
	$(BIN)/gwbench run --bin=$(BIN) --out=$(BIN)/gwbench.json --svg=$(BIN)/gwbench.svg \
	  --scenarios=ingest,ingest-prom,evaluate,detect,receive,flood,rules-prom,fleet,soak --prometheus=$(BIN)/prometheus $(BENCH_FLAGS)

# fuzz runs every Go fuzz target one after another, FUZZTIME each; a failing
# input stays in the package's testdata/fuzz/, where `go test` replays it.
FUZZTIME ?= 10m
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x ./...

# soak plays random histories against the real binary for SOAK_DURATION
# (docs/receiver.md, "Proving it") and prints histories/s and violations.
SOAK_DURATION ?= 30m
soak:
	GATEWARDEN_LEDGER_DURATION=$(SOAK_DURATION) $(GO) test -count=1 -timeout 0 -run TestLedgerModel -v ./receiver/ledgertest

clean:
	rm -rf $(BIN) data
