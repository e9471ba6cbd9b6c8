# aftershock: `make demo` runs a real rehearsal, `make test` runs the whole test suite.
# Both install what is missing first (a virtualenv in .venv, Toxiproxy built with Go and cached).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install toxiproxy demo test unit integration lint cleanup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)
	@echo "installed: source .venv/bin/activate"

toxiproxy: install
	@$(BIN)/python -m harness.faults.provision >/dev/null

demo: toxiproxy
	$(BIN)/aftershock run scenarios/db-latency.yaml

lint: install
	$(BIN)/ruff check harness tests targets
	$(BIN)/ruff format --check harness tests targets
	$(BIN)/mypy

test: toxiproxy lint
	$(BIN)/python -m pytest

unit: install
	$(BIN)/python -m pytest tests/unit

integration: toxiproxy
	$(BIN)/python -m pytest tests/integration

cleanup: install
	$(BIN)/aftershock cleanup

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
