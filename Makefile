# Skiff — a small, real Kubernetes. See README.md.
GO        ?= go
BIN       := bin/skiff
DATA      ?= .data
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all build test test-unit test-integration bench deps up down lint clean

all: build

## build: the single binary bin/skiff
build:
	$(GO) build -o $(BIN) ./tools/skiff

## deps: Debian packages the integration tests and benchmarks need (root)
deps:
	apt-get install -y --no-install-recommends etcd-server etcd-client

## test: unit tests, then integration tests (real processes, etcdctl)
test: test-unit test-integration

test-unit:
	$(GO) test -count=1 -timeout 20m ./...

test-integration: build
	SKIFF_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m -tags integration ./tools/... ./raftstore/... ./control/...

## bench: Skiff's store side by side with a three-member etcd
bench: build
	$(BIN) bench store --vs-etcd

## up: a local three-node store cluster on loopback (the node side comes in later issues)
up: build
	./scripts/up.sh $(DATA)

## down: stop what `make up` started and remove its data
down:
	./scripts/down.sh $(DATA)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

clean:
	rm -rf bin
