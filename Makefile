# refresh-token: build, test and install. `make help` lists the targets.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR  ?= $(PREFIX)/share/doc/refresh-token
DESTDIR ?=

GO      ?= go
# Between releases the version is the last tag's, with the commits since
# (0.1.0-3); with no tag, devel. --version adds the commit.
VERSION ?= $(shell v=$$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null) && echo "$$v" | sed 's/^v//; s/-g[0-9a-f]*//' || echo devel)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.docdir=$(DOCDIR)
BUILD   := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"

.PHONY: help build test lint bench demo demo-login man check-units e2e install uninstall clean release release-check vulncheck

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## Build static binaries and the man page into bin/
	$(BUILD) -o bin/refresh-token ./cmd/refresh-token
	$(BUILD) -o bin/bot-sim ./cmd/bot-sim
	$(GO) run ./internal/mangen -version $(VERSION) -date $(MAN_DATE) -docdir $(DOCDIR) -o bin/refresh-token.1

test: lint ## Run the whole test suite with the race detector
	$(GO) test -race -count=1 ./...

lint: ## go vet, gofmt, and staticcheck when it installs
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if $(GO) run $(STATICCHECK) -version >/dev/null 2>&1; then \
	  $(GO) run $(STATICCHECK) ./...; \
	else echo "staticcheck unavailable: skipped"; fi

bench: build ## Benchmarks: Go benchmarks with allocations, then the whole cycle of bin/refresh-token against bot-sim and curl (docs/BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./internal/bench -bin bin

demo: build ## One full refresh against the fake endpoint and bot-sim, on loopback
	@./scripts/demo.sh

demo-login: build ## One whole browser login (curl -k as the browser), then a refresh, on loopback
	@./scripts/demo-login.sh

# Exposure score of refresh-token.service that check-units accepts.
MAX_EXPOSURE ?= 1.5
MAN_DATE     ?= $(shell git log -1 --format=%cs 2>/dev/null || date +%F)

man: ## Generate the man page bin/refresh-token.1 from the command line
	@mkdir -p bin
	$(GO) run ./internal/mangen -version $(VERSION) -date $(MAN_DATE) -docdir $(DOCDIR) -o bin/refresh-token.1

check-units: build man ## systemd-analyze verify the units and hold the exposure score to MAX_EXPOSURE
	@./systemd/check-units.sh bin/refresh-token bin/refresh-token.1 $(MAX_EXPOSURE)

e2e: ## Accelerated end-to-end test of the retry policy: 30 s tokens, an outage (about a minute)
	RTTEST_E2E=1 $(GO) test -count=1 -v -run TestAcceleratedRetry ./e2e

# Random SIGKILLs in make stress; the other long runs scale with it.
STRESS_RUNS ?= 1000

.PHONY: stress
stress: ## Long reliability runs: STRESS_RUNS random SIGKILLs, kills at each write step, 20 runs at once, in-place rewrites (docs/RELIABILITY.md)
	STRESS_RUNS=$(STRESS_RUNS) $(GO) test -count=1 -timeout 60m -v -run 'Crash|Concurrent|Rewritten|HalfWritten|FarTimes|FarPast' ./cli ./refresh ./status

# Fuzz time per target in make fuzz; CI runs a short smoke of each.
FUZZTIME ?= 30s
FUZZ     := ./store:FuzzTokenFile ./store:FuzzWrittenReadsBack ./store:FuzzLoadApp ./oauth:FuzzClassify ./harness:FuzzParseMessage

.PHONY: fuzz
fuzz: ## Fuzz the token file, app config, response classifier and bot message parser, FUZZTIME each (docs/RELIABILITY.md)
	@set -e; for t in $(FUZZ); do \
	  echo "== $${t#*:} in $${t%%:*}, $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) $${t%%:*}; \
	done

# Mutation testing: gremlins, pinned, one package at a time, each with its
# own tests only (a subpackage's files belong to its own run). Slow, and not
# part of make test: see docs/RELIABILITY.md for the time each takes.
# One package: make mutate MUTATE_PKGS=deliver. The efficacy of each is read
# from its JSON report: gremlins v0.6.0 ignores --threshold-efficacy given
# as a flag.
GREMLINS        := github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
MUTATE_PKGS     ?= oauth deliver store refresh login status cli
MUTATE_WORKERS  ?= 1
MUTATE_EFFICACY ?= 95
# A mutant's test run may take this many times the coverage run before it
# counts as timed out; the mutated package is rebuilt within that time. The
# coverage run must not come from the test cache (-count=1), or the time
# it sets is a fraction of a second.
MUTATE_TIMEOUT  ?= 20

.PHONY: mutate
mutate: ## Mutation testing with gremlins of MUTATE_PKGS (every package of the product), efficacy >= MUTATE_EFFICACY % each; slow
	@mkdir -p bin; failed=; for p in $(MUTATE_PKGS); do \
	  echo "== $$p"; out=bin/mutate-$$(echo $$p | tr / -).json; rm -f $$out; \
	  GOFLAGS="$$($(GO) env GOFLAGS) -count=1" $(GO) run $(GREMLINS) unleash --workers $(MUTATE_WORKERS) --timeout-coefficient $(MUTATE_TIMEOUT) \
	    --exclude-files '/' --output $$out ./$$p || failed="$$failed $$p"; \
	  eff=$$(grep -o '"test_efficacy":[0-9.]*' $$out 2>/dev/null | cut -d: -f2); \
	  awk -v e="$$eff" -v t=$(MUTATE_EFFICACY) 'BEGIN { exit !(e != "" && e + 0 >= t) }' || failed="$$failed $$p($${eff:-no report}%)"; \
	done; \
	if [ -n "$$failed" ]; then echo "mutate: efficacy under $(MUTATE_EFFICACY) % in:$$failed"; exit 1; fi

# The units and examples name /usr/local/bin/refresh-token and the docs in
# /usr/share/doc/refresh-token; installed, they name BINDIR and DOCDIR.
# Nothing is enabled: see README.md, Quick start.
INSTALLED = sed -e 's|/usr/local/bin/refresh-token|$(BINDIR)/refresh-token|g' -e 's|/usr/share/doc/refresh-token|$(DOCDIR)|g'
DOCS      = README.md LICENSE $(wildcard docs/*.md)
EXAMPLES  = systemd/refresh-token.env systemd/crontab $(wildcard systemd/examples/*.service systemd/examples/*.yml systemd/examples/*.d/*.conf)

# install only copies what make build made: under sudo there may be no go
# on PATH, and a root-owned build would leave root's files in the clone.
install: ## Install what make build made: binary, units, man page, docs and examples, under DESTDIR/PREFIX
	@for f in bin/refresh-token bin/refresh-token.1; do \
	  [ -f $$f ] || { echo "make install: $$f is missing: run make build first (as yourself, not root)" >&2; exit 1; }; \
	done
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 bin/refresh-token $(DESTDIR)$(BINDIR)/refresh-token
	install -m 0644 bin/refresh-token.1 $(DESTDIR)$(MANDIR)/man1/refresh-token.1
	for f in refresh-token.service refresh-token.timer; do \
	  $(INSTALLED) systemd/$$f >$(DESTDIR)$(UNITDIR)/$$f && chmod 0644 $(DESTDIR)$(UNITDIR)/$$f || exit 1; \
	done
	for f in $(DOCS); do install -m 0644 $$f $(DESTDIR)$(DOCDIR)/$$(basename $$f) || exit 1; done
	for f in $(EXAMPLES); do \
	  rel=$${f#systemd/}; d=$(DESTDIR)$(DOCDIR)/examples/$${rel#examples/}; \
	  install -d $$(dirname $$d) && $(INSTALLED) $$f >$$d && chmod 0644 $$d || exit 1; \
	done

uninstall: ## Remove what install put in place
	@if command -v systemctl >/dev/null 2>&1 && systemctl is-enabled --quiet refresh-token.timer 2>/dev/null; then \
	  echo "make uninstall: refresh-token.timer is enabled: run 'systemctl disable --now refresh-token.timer' first" >&2; exit 1; \
	fi
	rm -f $(DESTDIR)$(BINDIR)/refresh-token $(DESTDIR)$(MANDIR)/man1/refresh-token.1
	rm -f $(DESTDIR)$(UNITDIR)/refresh-token.service $(DESTDIR)$(UNITDIR)/refresh-token.timer
	rm -rf $(DESTDIR)$(DOCDIR)

# Releases: reproducible archives and .deb packages in dist/, built with
# the Go release that fixes the installed one's standard-library
# vulnerabilities (go.mod keeps go 1.26.0 for everyday builds and CI).
RELEASE_GO  ?= go1.27.3
NFPM        := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.1.4

release: ## Build dist/: tarballs and .debs for amd64 and arm64, SHA256SUMS (VERSION=vX.Y.Z)
	@GO="$(GO)" RELEASE_GO=$(RELEASE_GO) NFPM=$(NFPM) ./scripts/release.sh "$(VERSION)"

release-check: ## Build the release twice and compare, check the .deb's fields and lintian
	@GO="$(GO)" RELEASE_GO=$(RELEASE_GO) NFPM=$(NFPM) ./scripts/release-check.sh

vulncheck: ## govulncheck on the code, with the Go the release uses (needs the vulnerability database online)
	GOTOOLCHAIN=$(RELEASE_GO) $(GO) run $(GOVULNCHECK) ./...

clean: ## Remove build output
	rm -rf bin dist
