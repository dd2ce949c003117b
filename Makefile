# The two commands of the README: `make run` and `make test`.
# Both work on a fresh machine with Python 3.11 and make: they build the
# virtual environment and install what they need first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export XDG_RUNTIME_DIR ?= /tmp/runtime-$(shell id -u)

.PHONY: run test lint bench clear-db init-db seed browser-deps venv dev-venv

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.runtime
dev-venv: $(VENV)/.dev

# Debian's chromium for the browser tests (Playwright's own browser download
# is not used), and an emoji font so the screenshots show the page icons.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || { \
	  echo "installing an emoji font (page icons in the screenshots)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-color-emoji >/dev/null; }

# 1. Run the dashboard: embedded PostgreSQL + demo data + simulated Plaid,
#    unless DATABASE_URL / PLAID_* point at real ones.
run: $(VENV)/.runtime
	$(PY) -m dashboard seed --if-empty
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

# 2. Run the whole test suite (unit, database, AppTest and browser tests).
test: $(VENV)/.dev browser-deps
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(VENV)/.dev
	$(PY) -m ruff check .

init-db: $(VENV)/.runtime
	$(PY) -m dashboard init-db

seed: $(VENV)/.runtime
	$(PY) -m dashboard seed $(ARGS)

# Wipe the local (embedded) database so the init scripts run again.
clear-db: $(VENV)/.runtime
	$(PY) -m dashboard clear-db

# Performance benchmark: seeds each size into bench/data/<size>/ (reused once
# seeded), times every page query, writes bench/results/ and docs/benchmarks.md.
BENCH_SIZES ?= 1000000 10000000
bench: $(VENV)/.runtime
	BENCH_SIZES="$(BENCH_SIZES)" $(PY) -m bench
