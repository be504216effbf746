# One command per job; each works on a fresh clone with only Python 3.11 and git installed.
# `make pipeline` and `make test` create the environment themselves when it is missing.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The checkout may sit anywhere: under a dot-directory, at a path with spaces or of 200+
# characters. Make splits targets and prerequisites on spaces, so they are all relative to the
# checkout (recipes run there); the one absolute path, PATH's entry, is only ever exported.
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# A pinned uv, bootstrapped from PyPI into .tools/ (an older uv may not read uv.lock).
# `make UV=uv ...` uses the one on PATH instead.
UV_PINNED := .tools/bin/uv
UV ?= $(UV_PINNED)
# Bootstrap the pinned uv only when it is the one in use (a uv on PATH is not a file to make).
UV_BOOTSTRAP := $(filter $(UV_PINNED),$(UV))
# Extra pytest arguments for `make test` / `make test-fast`, e.g. PYTEST_ARGS="-k gate -x".
PYTEST_ARGS ?=
# Test processes (pytest-xdist); each test file runs whole in one of them, so a file's module
# fixtures (a trained model, a repository) are built once. TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= auto

# Quiet and offline: no telemetry, no update checks, never download a Python.
export DVC_NO_ANALYTICS := 1
export BENTOML_DO_NOT_TRACK := true
export GX_ANALYTICS_ENABLED := False
export UV_PYTHON_DOWNLOADS := never
# DVC stage commands run `python`: make it the project's.
export PATH := $(BIN):$(PATH)

.PHONY: help setup pipeline summary serve image test test-fast lint format push pull benchmark clean checkov scan monitor

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' "$(firstword $(MAKEFILE_LIST))" | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV_PINNED):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV_BOOTSTRAP)
	"$(UV)" sync --frozen --python $(PYTHON)
	touch $@

# checkov pins old packaging/networkx/dpath: it gets its own venv, never the project's (TOOLCHAIN.md).
# `conveyor scan` finds it in .tools/checkov (or installs the same pin into ~/.cache/conveyor when
# there is none: src/conveyor/scan/checkov_tool.py, the version a test holds to this one).
CHECKOV_VERSION := 3.3.30
CHECKOV := .tools/checkov/bin/checkov

$(CHECKOV): | $(UV_BOOTSTRAP)
	"$(UV)" venv --quiet --python $(PYTHON) .tools/checkov
	"$(UV)" pip install --quiet --python .tools/checkov/bin/python checkov==$(CHECKOV_VERSION)

checkov: $(CHECKOV) ## install the pinned checkov into .tools/checkov (its own venv)

setup: $(VENV)/.synced $(CHECKOV) ## create or update .venv from uv.lock (all extras and groups) and checkov

pipeline: setup ## run the whole DVC pipeline on the built-in data, print the metrics and the gate
	dvc repro
	python -m forecast summary
	conveyor gate --out reports/local

summary: setup ## print the metrics of the last pipeline run
	python -m forecast summary

serve: setup ## serve the model of the last `make pipeline` on http://127.0.0.1:3000 (BentoML)
	@test -f models/bentoml_model.json || { echo "no model yet: run 'make pipeline' first"; exit 2; }
	bentoml serve forecast.service:DemandForecaster --host 127.0.0.1 --port $(or $(PORT),3000)

# The Bento is rebuilt when the model, the bentofile, the Dockerfile template or the code changes.
BENTO_INPUTS = bentofile.yaml deploy/docker/Dockerfile.template $(shell find src -name '*.py' -not -path '*/__pycache__/*' 2>/dev/null)
build/bento/build.json: models/bentoml_model.json $(BENTO_INPUTS) | $(VENV)/.synced
	conveyor build bento --out build/bento

image: ## build the service image with buildah into build/containers (after `make pipeline`)
	$(if $(wildcard models/bentoml_model.json),,$(error no model registered: run 'make pipeline' first))
	@$(MAKE) --no-print-directory setup build/bento/build.json
	conveyor build image --context build/bento/context --store build/containers

test: setup ## run the test suite (the image tests included: buildah, podman, debootstrap)
	pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The loop for iterating (under a minute on 2 cores): the unit tests, without the test files
# that run real tools on real files (marked integration: GX, checkov, BentoML, DVC, trained
# models, git remotes), the image, Prometheus, pipeline and act runs; `make test` (CI) adds them.
# One area with its integration tests: make test PYTEST_ARGS="tests/conveyor/checks".
test-fast: setup ## the unit tests (< 1 min): no real GX/checkov/BentoML/DVC runs, no image, no act
	pytest -n $(TEST_WORKERS) --dist loadfile -q --ignore=tests/e2e \
	  -m "not integration and not image and not prometheus and not pipeline and not act and not spark" \
	  $(PYTEST_ARGS)

lint: setup ## ruff, formatting, mypy, import layers, file hygiene (the pre-commit hooks, every file)
	pre-commit run --all-files --show-diff-on-failure

format: setup ## apply ruff's fixes and formatting
	ruff check --fix .
	ruff format .

push: setup ## send DVC-cached data, models and the run-cache to the default remote
	dvc push --run-cache

pull: setup ## fetch DVC-cached data and models from the default remote
	dvc pull

benchmark: setup ## 1M and 10M rows (prepare + train, contracts, drift): rows/s, memory; drift detection rates; verify speed
	python benchmarks/pipeline_scale.py
	python benchmarks/contracts_scale.py
	python benchmarks/drift_scale.py
	python benchmarks/drift_detection.py
	python benchmarks/verify_speed.py

scan: setup ## security gate: checkov + our policies + secrets, pip-audit on uv.lock (needs PyPI)
	conveyor scan --deps --uv "$(UV)" --out reports/scan

monitor: setup ## drift check of params.yaml's monitoring windows (CURRENT=/REFERENCE= override them)
	conveyor monitor drift $(if $(REFERENCE),--reference "$(REFERENCE)") $(if $(CURRENT),--current "$(CURRENT)") --out reports/monitor

clean: ## remove the environments (keeps data, DVC cache and models)
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache
