# Imigee — `make help` lists the targets.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
BENCHCOUNT ?= 3
BIN       ?= bin
SHELL     := bash
.SHELLFLAGS := -o pipefail -ec

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build every binary into ./bin (static, CGO off).
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/ ./cmd/...

.PHONY: test
test: ## go vet + the whole test suite under the race detector (what CI runs).
	$(GO) vet $(PKGS)
	$(GO) test -race -timeout 15m $(PKGS)
	@# The race detector shuffles the scheduler on purpose, so under -race the
	@# same-seed test compares counts only; this run checks byte identity
	@# (without async preemption: see simnet.RunGODEBUG).
	GODEBUG=asyncpreemptoff=1 $(GO) test -count 1 -run '^(TestSimSameSeed|TestLiteMatchesQUIC)$$' ./test/testnet/simnet

.PHONY: testnet-bin
testnet-bin: ## imigee-testnet and its simnet runner (imigee-testnet-simnet) into ./bin: simnet without the source tree.
	$(GO) build -o $(BIN)/ ./cmd/imigee-testnet
	$(GO) test -c -o $(BIN)/imigee-testnet-simnet ./test/testnet/simnet

.PHONY: examples testnet-examples
examples: testnet-bin ## Regenerate every committed testnet example from its shipped scenario (scripts/testnet-examples.sh; QUICK=1 skips the real-time one).
	BIN=$(BIN) ./scripts/testnet-examples.sh
testnet-examples: examples

.PHONY: mobile-check
mobile-check: ## gobind Java+ObjC with no skipped symbol, javac of the bindings + sample, android/arm64 link.
	@GO=$(GO) ./scripts/mobile-check.sh

.PHONY: fuzz
fuzz: ## A short fuzz pass (FUZZTIME each) over every fuzz target.
	@./scripts/fuzz-all.sh $(FUZZTIME)

.PHONY: bench
bench: ## Benchmarks and their raw baselines in one run, then the ratios (docs/BENCH.md).
	@mkdir -p out
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(BENCHCOUNT) -timeout 60m $(PKGS) 2>&1 \
		| tee out/bench.txt | $(GO) run ./test/benchratio

.PHONY: demo
demo: build ## Local demo: a relay and three nodes on loopback share a photo.
	@./scripts/demo.sh

.PHONY: demo-late
demo-late: build ## The demo plus a festival without reception: a meeting found after the fact shares the photo taken there (~2 min).
	@./scripts/demo.sh -late

.PHONY: proto
proto: ## Regenerate protocol/pb from the .proto files (needs protoc + protoc-gen-go).
	protoc -I protocol/pb --go_out=protocol/pb --go_opt=paths=source_relative protocol/pb/*.proto

.PHONY: lint
lint: ## staticcheck (installed from the Go module proxy on first use).
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest $(PKGS)

.PHONY: clean
clean: ## Remove build output.
	rm -rf $(BIN)
