# Skiff — a small, real Kubernetes. See README.md.
GO        ?= go
BIN       := bin/skiff
DATA      ?= .data
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
# The Kubernetes release whose kubectl `skiff kubectl` embeds (k8s.io/kubectl in go.mod).
KUBE_VERSION := v1.37.2
LDFLAGS   := -X main.version=$(VERSION) \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 \
	-X k8s.io/client-go/pkg/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all build wasm logger playground test test-unit test-integration chaos bench deps up down lint clean

all: build

## build: the single binary bin/skiff
build: wasm logger playground
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./tools/skiff

## logger: the small container logging binary the skiff binary embeds (nodes/podlogs/loggerbin)
logger:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" \
		-o nodes/podlogs/loggerbin/binary/skiff-container-logger ./nodes/podlogs/cmd/skiff-container-logger

## playground: the dashboard playground's Go half (GOOS=js) and Go's wasm_exec.js, embedded by site/
playground:
	GOOS=js GOARCH=wasm CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" \
		-o site/ui/wasm/playground.wasm ./site/playground/wasm
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" site/ui/wasm/wasm_exec.js

## wasm: the built-in policy modules the binary embeds (wasm/builtin/modules)
wasm:
	for m in scheduler replicaset deployment endpoints nodelifecycle; do \
		GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -trimpath -buildmode=c-shared \
			-o wasm/builtin/modules/$$m.wasm ./wasm/policies/$$m/module || exit 1; \
	done

## deps: Debian packages the integration tests and benchmarks need (root)
# (etcd: the store's anchor; containerd, runc: pods; nftables, iproute2: the proxy and the lab's
# network; docker-registry: the lab's image mirror; busybox-static: the test images' tools.)
DEB_PACKAGES := etcd-server etcd-client containerd runc nftables iproute2 docker-registry busybox-static chromium

deps:
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PACKAGES)

## test: unit tests, then integration tests (root: real processes, etcdctl, containerd, netns, nftables, registry)
test: test-unit test-integration

test-unit:
	$(GO) test -count=1 -timeout 20m ./...

test-integration: build
	SKIFF_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m -tags integration ./tools/... ./raftstore/... ./control/... ./nodes/... ./site/...
	$(GO) test -count=1 -timeout 5m -tags chaosbug ./tools/chaos/planted/

## chaos: the planted-bug tests, then a chaos run against a lab of its own (CHAOS_DURATION, default 3m; root)
CHAOS_DURATION ?= 3m
chaos: build
	$(GO) test -count=1 -timeout 5m -tags chaosbug ./tools/chaos/planted/
	SKIFF_BIN=$(CURDIR)/$(BIN) SKIFF_CHAOS_DURATION=$(CHAOS_DURATION) SKIFF_CHAOS_DATA_FAULTS=1 $(GO) test -count=1 -timeout 60m -tags integration -run TestShortChaosRun -v ./tools/chaos/run/

## bench: Skiff's store beside a three-member etcd, the API against raw store puts, the scheduler in wasm against native
bench: build
	$(BIN) bench store --vs-etcd
	$(BIN) bench api
	$(BIN) bench scheduler --nodes 500,5000 --pods 10000
	$(BIN) bench proxy --services 1000,10000
	$(BIN) lab up --dir $(DATA)/bench-lab && $(BIN) bench pods --kubeconfig $(DATA)/bench-lab/kubeconfig && \
		$(BIN) bench nodeloss --lab $(DATA)/bench-lab && $(BIN) bench failover --lab $(DATA)/bench-lab; \
		status=$$?; $(BIN) lab down --dir $(DATA)/bench-lab; exit $$status

## up: the lab (3 VMs in network namespaces, each a server with a node) with hello-world deployed and exposed (root)
up: deps build
	./scripts/up.sh $(DATA)/lab

## down: stop what `make up` started and remove its data
down:
	./scripts/down.sh $(DATA)/lab

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

clean:
	rm -rf bin
