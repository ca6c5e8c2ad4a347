# refresh-token: build, test and install. `make help` lists the targets.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BUILD   := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"

.PHONY: help build test lint bench demo install uninstall clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## Build static binaries into bin/
	$(BUILD) -o bin/refresh-token ./cmd/refresh-token
	$(BUILD) -o bin/bot-sim ./cmd/bot-sim

test: lint ## Run the whole test suite with the race detector
	$(GO) test -race -count=1 ./...

lint: ## go vet, gofmt, and staticcheck when it installs
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0 -version >/dev/null 2>&1; then \
	  $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.7.0 ./...; \
	else echo "staticcheck unavailable: skipped"; fi

bench: build ## Benchmarks: Go benchmarks with allocations, then the whole cycle of bin/refresh-token against bot-sim and curl (docs/BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./internal/bench -bin bin

demo: build ## One full refresh against the fake endpoint and bot-sim, on loopback
	@./scripts/demo.sh

install: build ## Install binary, units and man page under DESTDIR/PREFIX
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 bin/refresh-token $(DESTDIR)$(BINDIR)/refresh-token

uninstall: ## Remove what install put in place
	rm -f $(DESTDIR)$(BINDIR)/refresh-token

clean: ## Remove build output
	rm -rf bin
