# `make run` and `make test` work on a fresh machine with Python 3.11+ and access to PyPI;
# `make test` also needs the PostgreSQL server binaries, and installs them with apt-get
# (Debian/Ubuntu) when they are missing: the store's tests run on SQLite and on PostgreSQL.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Touched after a successful install: pip runs again only when pyproject.toml changes.
STAMP  := $(VENV)/.installed

.PHONY: venv install run test fuzz bench bench-lists postgres chromium php

venv install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV) || { echo "'$(PYTHON) -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }

# Order-only on $(PY): recreating the interpreter alone does not force a reinstall.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check -e '.[test,bench]'
	touch $@

run: $(STAMP)
	$(PY) run.py

test: $(STAMP) postgres chromium php
	$(PY) -m pytest -q --ignore=tests/fuzz $(PYTEST_ARGS)

# Schemathesis against the gateway's OpenAPI (tests/fuzz): no 5xx, answers as the schema
# says; bounded by CASEWORK_FUZZ_EXAMPLES per operation (40). `.ci/run` runs it after `test`.
fuzz: $(STAMP)
	$(PY) -m pytest -q tests/fuzz $(PYTEST_ARGS)

# Where Debian puts the server binaries; tests/support/postgres.py looks there (then PATH)
# and starts a throwaway cluster of its own, so no PostgreSQL service needs to run.
PG_BIN_GLOB ?= /usr/lib/postgresql/*/bin

# Installs Debian package $(1) with apt-get (with sudo when not root) or stops with a hint.
# (Arguments hold no commas: make's $(call) splits on them.)
define apt_install
if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
if $$SUDO apt-get update && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(1); then \
  exit 0; \
fi; \
echo "*** Could not install '$(1)' with apt-get. $(2)"; \
exit 1
endef

postgres:
	@for dir in $(PG_BIN_GLOB); do \
	  if [ -x "$$dir/initdb" ] && [ -x "$$dir/postgres" ]; then exit 0; fi; \
	done; \
	if command -v postgres >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then exit 0; fi; \
	echo "PostgreSQL server binaries (initdb, postgres) not found: installing the 'postgresql' package with apt-get"; \
	$(call apt_install,postgresql,The tests need its server binaries: install it (apt-get install postgresql) or put initdb and postgres on PATH; then run 'make test' again.)

# tests/clients runs the seed's JavaScript in a real browser: Debian's chromium.
chromium:
	@if command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	echo "Chromium not found: installing Debian's 'chromium' package with apt-get (for tests/clients)"; \
	$(call apt_install,chromium,Install it (apt-get install chromium); then run 'make test' again.)

# ... and its PHP examples with php-cli and its curl extension.
php:
	@if command -v php >/dev/null 2>&1 && php -m 2>/dev/null | grep -qx curl; then exit 0; fi; \
	echo "php-cli with curl not found: installing Debian's 'php-cli' and 'php-curl' with apt-get (for tests/clients)"; \
	$(call apt_install,php-cli php-curl,Install them (apt-get install php-cli php-curl); then run 'make test' again.)

# bench/actions.py, bench/throughput.py, bench/freshness.py (bench/README.md); about six minutes.
bench: $(STAMP)
	$(PY) -m bench

# The lists at 100,000 cases on SQLite and PostgreSQL (bench/README.md); about five minutes.
bench-lists: $(STAMP) postgres
	$(PY) bench/lists.py
