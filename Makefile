# aftershock: `make demo` runs a real rehearsal, `make test` runs the whole test suite.
# Both install what is missing first (a virtualenv in .venv, Toxiproxy built with Go and cached;
# `test` also Debian's prometheus and prometheus-alertmanager, for the scenarios' monitoring).

PYTHON ?= python3
# The project's own runs never pull images: the Docker base image is built locally (debootstrap),
# as in air-gapped CI. Set AFTERSHOCK_OFFLINE=0 to pull python:3.11-slim from a registry instead.
export AFTERSHOCK_OFFLINE ?= 1
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install toxiproxy compose docker monitoring chromium demo demo-docker test unit integration docker-test lint bench cleanup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@echo "installing aftershock and its dependencies into $(VENV) (a few minutes the first time)..."
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install --progress-bar on -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)
	@echo "installed: source .venv/bin/activate"

toxiproxy: install
	@$(BIN)/python -m harness.toxiproxy.provision >/dev/null

# Docker Compose v2 for the compose backend, built from its Go module once (cached like Toxiproxy).
compose: install
	@$(BIN)/python -m harness.compose.provision >/dev/null

docker:
	bash scripts/ensure-docker.sh

monitoring:
	bash scripts/ensure-monitoring.sh

chromium:
	bash scripts/ensure-chromium.sh

demo: toxiproxy
	$(BIN)/aftershock run scenarios/db-latency.yaml

demo-docker: toxiproxy docker
	$(BIN)/aftershock run scenarios/db-latency.yaml --backend docker

lint: install
	$(BIN)/ruff check harness tests targets benchmarks
	$(BIN)/ruff format --check harness tests targets benchmarks
	$(BIN)/mypy

# Three test files at a time (pytest-xdist, whole files per worker so a file's order holds) on
# 2 cores: a rehearsal mostly waits on its load's wall clock (the suite used ~40 % of the CPU
# with two), and every run has its own ports, directories, network and proxies. The 30 slowest
# tests are listed at the end of the log.
PYTEST_PARALLEL ?= -n 3 --dist loadfile
test: toxiproxy compose docker monitoring chromium lint
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) --durations=30

unit: install monitoring
	$(BIN)/python -m pytest tests/unit

integration: toxiproxy compose docker monitoring chromium
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) tests/integration

docker-test: toxiproxy compose docker
	$(BIN)/python -m pytest -m docker

bench: toxiproxy docker
	$(BIN)/python benchmarks/bench.py all
	$(BIN)/python benchmarks/report_bench.py

cleanup: install
	$(BIN)/aftershock cleanup

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
