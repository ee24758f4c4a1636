# persistence_exporter — `make demo` runs the exporter against a sandbox it starts itself;
# `make test` installs what the tests need and runs them against real servers.

GO       ?= go
export PATH := /usr/local/go/bin:$(PATH)
BINARY   := persistence_exporter
PKG      := github.com/prometheus/common/version
VERSION  ?= $(shell cat VERSION 2>/dev/null || echo 0.1.0)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BRANCH   ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X $(PKG).Version=$(VERSION) -X $(PKG).Revision=$(REVISION) \
            -X $(PKG).Branch=$(BRANCH) -X $(PKG).BuildUser=$(shell id -un)@$(shell hostname) \
            -X $(PKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
GOFILES   = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go')

.PHONY: all build deps lint test test-short bench bench-fleet demo clean

all: lint build

## build: the static binary ./persistence_exporter
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BINARY) ./cmd/persistence_exporter

## deps: Debian packages for the real servers (when missing) and Go modules
deps:
	@./scripts/deps.sh

## lint: gofmt, go vet, staticcheck
lint:
	@unformatted=$$(gofmt -l $(GOFILES)); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

## test: everything, against real servers (installs what is missing first)
test: deps lint
	$(GO) test -count=1 -timeout 15m ./...

## test-short: unit tests only, no servers
test-short:
	$(GO) test -short ./...

## bench: issue 13's goals on a 10,000-table catalog, exit 1 when one is missed: interleaved
## cold and warm scrapes against the floor (the five statistics views read by hand-written
## SQL), postgres_exporter (Debian's, when it installs) and pg_exporter (PG_EXPORTER=path),
## `advise`, and a steady state (BENCH_FLAGS, default --steady 10m at 15 s); then the Redis
## cache-namespace audit on 1,000,000 keys (server time per run, estimate error)
BENCH_FLAGS  ?= --steady 10m
PG_EXPORTER  ?=
bench: deps build
	@command -v prometheus-postgres-exporter >/dev/null 2>&1 || \
	  { echo "bench: installing prometheus-postgres-exporter to compare with"; \
	    $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-postgres-exporter >/dev/null || \
	    echo "bench: prometheus-postgres-exporter is not available: not compared"; }
	$(GO) run ./cmd/bench --exporter ./$(BINARY) --pg-exporter "$(PG_EXPORTER)" $(BENCH_FLAGS)
	$(GO) test -run '^$$' -bench Audit1M -benchtime 100x ./collector/redis/

## bench-fleet: one exporter with 1, 10 and 50 PostgreSQL targets (a database each) plus
## Redis: scrape wall time, CPU and peak memory, and what one more target costs
bench-fleet: deps build
	$(GO) run ./cmd/bench --fleet --exporter ./$(BINARY)

## demo: the seed deployment in small (PostgreSQL, pgbouncer, pgBackRest, Redis, a workload),
## the exporter and Prometheus with the alert rules; Ctrl-C stops and removes everything
demo: deps build
	@# built, not `go run`: go run exits 1 on Ctrl-C even when the sandbox stopped cleanly
	$(GO) build -o bin/sandbox ./cmd/sandbox && ./bin/sandbox --exporter ./$(BINARY)

clean:
	rm -f $(BINARY)
	rm -rf bin
