# `make run` and `make test` work on a fresh machine with Python 3.11+ and access to PyPI.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Touched after a successful install: pip runs again only when pyproject.toml changes.
STAMP  := $(VENV)/.installed

.PHONY: venv install run test bench

venv install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV) || { echo "'$(PYTHON) -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }

# Order-only on $(PY): recreating the interpreter alone does not force a reinstall.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --disable-pip-version-check -e '.[test]'
	touch $@

run: $(STAMP)
	$(PY) run.py

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/actions.py
