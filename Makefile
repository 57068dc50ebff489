# The two commands a newcomer needs are `make run` and `make test` (README.md).
GO ?= go
export HUB_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export HUB_TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test vet lint fuzz bench bench-go build

# Run the whole hub on this machine: embedded store, in-process simulators.
run:
	$(GO) run ./cmd/gatehubd

# Binaries stamped with the version (gatehubd -version, gatehub_build_info).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
VERSION_PKG = github.com/gatehub/gatehub/internal/version
build:
	$(GO) build -ldflags "-X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(COMMIT)" -o bin/ ./cmd/...

# All tests, including the Postgres and Redis ones, the XML/signature oracles
# (xmllint, xmlsec1), the monitoring oracles (promtool: /metrics, alert rules
# and their tests, the Prometheus configuration, the dashboard queries), vet,
# staticcheck, go mod tidy and short bounded fuzzing.
test: vet lint
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz

vet:
	$(GO) vet ./...

# go.mod must say what the code imports (direct vs indirect) and nothing else.
lint:
	$(GO) mod tidy -diff
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck ./...

# Each fuzz target for a few seconds: catches regressions, stays bounded.
FUZZTIME ?= 5s
# Minimising each new interesting input may take 60 s by default, which ate
# the whole budget (a handful of executions per target): 100 runs per input
# keeps the budget for fuzzing and still shrinks a crasher.
FUZZMINIMIZE ?= 100x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/declaration/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/sign/
	$(GO) test -run '^$$' -fuzz '^FuzzFastPathAgrees$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/sign/
	$(GO) test -run '^$$' -fuzz '^FuzzReadArchive$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/audit/
	$(GO) test -run '^$$' -fuzz '^FuzzFastEntryLine$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/audit/
	$(GO) test -run '^$$' -fuzz '^FuzzCanonicalMatchesOracle$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/mapping/
	$(GO) test -run '^$$' -fuzz '^FuzzSubmitNever500$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) ./internal/app/

# Side-by-side measurements on this machine, written to docs/BENCHMARKS.md
# (signing bound, ours vs xmlsec1, end to end on SQLite and Postgres, plate
# lookups). A few minutes; Postgres from HUB_TEST_DATABASE_URL.
bench:
	$(GO) run ./internal/bench/cmd/benchreport -out docs/BENCHMARKS.md

# The same measurements as go test benchmarks, plus the package micro-benchmarks.
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/sign/ ./internal/store/...
	$(GO) test -run '^$$' -bench . -benchtime 100x -timeout 30m ./internal/bench/
