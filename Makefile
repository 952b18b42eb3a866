# Didit Portal — two commands on a fresh machine: `make run` and `make test`.
#
# Everything is installed inside the project: Python packages in .venv, bun (from the npm package, at the
# version Reflex pins) in .tools, Reflex's own files in .reflex-home, caches in .cache. Nothing is fetched from
# outside the package registries, and Reflex is kept off $HOME and off the network by the variables below.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
TOOLS := $(CURDIR)/.tools
BUN := $(TOOLS)/node_modules/.bin/bun

export PORT ?= 3000
DEV_BACKEND_PORT ?= 8000

# --- Keep Reflex, bun and npm inside the project and off the network (see README "How it stays offline") ---
export REFLEX_DIR := $(CURDIR)/.reflex-home
export BUN_INSTALL_CACHE_DIR := $(CURDIR)/.cache/bun
export NPM_CONFIG_CACHE := $(CURDIR)/.cache/npm
export REFLEX_CHECK_LATEST_VERSION := false
export REFLEX_TELEMETRY_ENABLED := false
# Binding Reflex's HTTP client to an address skips its connectivity probe to a public address.
export REFLEX_HTTP_CLIENT_BIND_ADDRESS := 0.0.0.0
# The registry npm already uses here: Reflex then skips its mirror speed test. (Computed once per make.)
ifndef NPM_CONFIG_REGISTRY
export NPM_CONFIG_REGISTRY := $(shell npm config get registry 2>/dev/null)
endif
export REFLEX_BUN_PATH := $(BUN)

# Prints the address the portal binds (didit_portal.config: Settings.listen_host).
LISTEN_HOST := $(BIN)/python -c 'from didit_portal.config import get_settings; print(get_settings().listen_host)'

RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: help venv bun check-config migrate run dev test-deps lint format test test-fast test-browser bench-deps bench bench-short clean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# --- Installation ------------------------------------------------------------------------------------------

venv: $(RUNTIME_STAMP)  ## Create .venv and install the pinned runtime requirements.

$(RUNTIME_STAMP): requirements.txt
	@if [ ! -x "$(BIN)/python" ]; then
	  echo "==> Creating $(VENV) with $(PYTHON)"
	  $(PYTHON) -m venv $(VENV)
	fi
	echo "==> Installing runtime requirements"
	$(BIN)/python -m pip install -qq --disable-pip-version-check -r requirements.txt
	touch $@

bun: venv  ## Install bun from the npm registry, at the exact version Reflex pins.
	@want="$$($(BIN)/python -c 'from reflex_base.constants.installer import Bun; print(Bun.VERSION)')"
	if [ -x "$(BUN)" ] && [ "$$($(BUN) --version 2>/dev/null)" = "$$want" ]; then exit 0; fi
	echo "==> Installing bun $$want from npm into .tools/"
	mkdir -p $(TOOLS)
	npm install --prefix $(TOOLS) --save-exact --no-fund --no-audit --loglevel=error "bun@$$want"
	test "$$($(BUN) --version)" = "$$want"

check-config: venv  ## Refuse, in one line, a configuration that cannot run (e.g. live mode without webhook secret).
	@$(BIN)/python -c 'from didit_portal.config import startup_check; startup_check()'

migrate: venv check-config  ## Bring the database schema up to date (alembic upgrade head).
	@echo "==> Migrating the database"
	$(BIN)/alembic upgrade head

# --- Running ------------------------------------------------------------------------------------------------

run: venv bun migrate  ## Install, migrate and run the portal in prod mode on one port (PORT, default 3000).
	@# The first admin (admin@localhost, random password printed once) only while no staff account exists.
	$(BIN)/python -m didit_portal users bootstrap-admin
	# The address to bind: PORTAL_LISTEN_HOST, else loopback in sandbox mode and every interface in live mode.
	host="$$($(LISTEN_HOST))"
	ping="$$($(BIN)/python -c 'from didit_portal.config import get_settings; print(get_settings().internal_url)')/ping"
	echo "==> Building and starting Didit Portal (prod mode, port $(PORT), listening on $$host)"
	# Announce the URL once the server answers (the build takes a few seconds before that). `$$$$` is this
	# shell's PID, which `exec` hands to Reflex: the announcer stops as soon as Reflex exits.
	server=$$$$
	( while kill -0 "$$server" 2>/dev/null; do
	    if $(BIN)/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
	        "$$ping" 2>/dev/null; then
	      bar="================================================================"
	      printf '\n%s\n  Didit Portal is ready:  http://localhost:%s\n%s\n\n' "$$bar" "$(PORT)" "$$bar"
	      break
	    fi
	    sleep 1
	  done ) &
	exec $(BIN)/reflex run --env prod --single-port --frontend-port $(PORT) --backend-host "$$host"

dev: venv bun migrate  ## Run with hot reload: pages on PORT, backend on DEV_BACKEND_PORT (default 8000).
	@echo "==> Starting Didit Portal in dev mode: http://localhost:$(PORT) (backend on port $(DEV_BACKEND_PORT))"
	# Dev mode serves backend routes on their own port: the portal reaches its embedded sandbox and its webhook
	# inbox there.
	export PORTAL_INTERNAL_URL="$${PORTAL_INTERNAL_URL:-http://127.0.0.1:$(DEV_BACKEND_PORT)}"
	# ...and the sandbox's hosted pages too: in dev mode the page port serves only Reflex pages.
	export SANDBOX_PUBLIC_URL="$${SANDBOX_PUBLIC_URL:-http://localhost:$(DEV_BACKEND_PORT)/didit-sandbox}"
	exec $(BIN)/reflex run --frontend-port $(PORT) --backend-port $(DEV_BACKEND_PORT) --backend-host "$$($(LISTEN_HOST))"

# --- Quality ------------------------------------------------------------------------------------------------

test-deps: $(DEV_STAMP)  ## Install test and lint tools, Debian's Chromium and the browser tests' npm packages.
	@if [ ! -x /usr/bin/chromium ]; then
	  echo "==> Installing Chromium from Debian"
	  SUDO=""; if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi
	  $$SUDO apt-get update -qq
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null
	fi
	for dir in tests/browser/*/; do
	  if [ -f "$$dir/package-lock.json" ] && [ ! -d "$$dir/node_modules" ]; then
	    echo "==> npm ci in $$dir"
	    npm ci --prefix "$$dir" --no-fund --no-audit --loglevel=error
	  fi
	done

$(DEV_STAMP): $(RUNTIME_STAMP) requirements-dev.txt
	@echo "==> Installing test requirements"
	$(BIN)/python -m pip install -qq --disable-pip-version-check -r requirements-dev.txt
	touch $@

lint: $(DEV_STAMP)  ## ruff check, ruff format --check and pyright (all run; fails if any fails).
	@rc=0
	echo "==> ruff check"
	$(BIN)/ruff check . || rc=1
	echo "==> ruff format --check"
	$(BIN)/ruff format --check . || rc=1
	echo "==> pyright"
	$(BIN)/pyright || rc=1
	exit "$$rc"

format: $(DEV_STAMP)  ## Format the code (ruff format) and apply ruff's safe fixes.
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# One pytest process per tier. Unit, API and sandbox tests share one; browser tests start real servers and run
# in a second one (Reflex apps, pytest-asyncio's loop and Playwright's must not share a process). Each tier
# announces itself with a "==> pytest tier NAME:" line, which .ci/summarise.py files pytest's summary line under.
# A tier that collects no test FAILS (pytest's exit status 5 is kept): a tier gone empty must not go green.
define pytest_tier
echo "==> pytest tier $(1): $(2)"
rc=0; $(BIN)/pytest $(3) || rc=$$?
if [ "$$rc" = 5 ]; then echo "==> $(1) tier: NO TESTS COLLECTED: the tier fails"; fi
exit "$$rc"
endef

test: test-deps bun  ## Install what the tests need, lint, then run every test tier (all run; fails if any failed).
	@rc=0
	$(MAKE) lint || rc=1
	$(MAKE) test-fast || rc=1
	$(MAKE) test-browser || rc=1
	exit "$$rc"

test-fast: $(DEV_STAMP)  ## Unit, API and sandbox tests (no browser; needs the machine's PostgreSQL and Redis).
	@# Names the server versions the run uses; a missing server fails the tier here, in one line.
	$(BIN)/python -m tests.servers
	$(call pytest_tier,fast,unit + API + sandbox tests,-q -m "not browser" --ignore=tests/browser tests)

test-browser: test-deps bun  ## Browser tests (Chromium drives the real portal and sandbox pages).
	@$(call pytest_tier,browser,Chromium against the real portal and sandbox pages,-q tests/browser)

# --- Benchmarks (by hand; figures and method in docs/PERFORMANCE.md) -----------------------------------------

bench-deps: test-deps bun  ## Install what the benchmarks need besides the test tools: Debian's wrk.
	@if ! command -v wrk >/dev/null; then
	  echo "==> Installing wrk from Debian"
	  SUDO=""; if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi
	  $$SUDO apt-get update -qq
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null
	fi

# Both produce every figure docs/PERFORMANCE.md states that is not marked there as a one-off measurement.
bench: bench-deps  ## Every benchmark at full length (half an hour or so: the queue ones seed 1M rows each).
	$(BIN)/python bench/queue.py
	$(BIN)/python bench/queue.py --db postgresql
	$(BIN)/python bench/webhook_ingest.py --db both
	$(BIN)/python -m bench.ingest_profile --db both
	$(BIN)/python -m bench.push_latency --rounds 40

bench-short: bench-deps  ## Every benchmark in its short mode (a smoke run of a few minutes; figures are rough).
	$(BIN)/python bench/queue.py --sizes 2000,20000 --repeat 5
	$(BIN)/python bench/queue.py --sizes 2000,20000 --repeat 5 --db postgresql
	$(BIN)/python bench/webhook_ingest.py --short --db both
	$(BIN)/python -m bench.ingest_profile --short --db both
	$(BIN)/python -m bench.push_latency --rounds 5

clean:  ## Remove generated build output (keeps .venv, .tools and the database).
	rm -rf .web .states .reflex-home
