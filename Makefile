# The commands people type. `make help` lists them. Every target installs what it needs first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The one variable that names the model store everywhere (the CLI's default too).
MODEL_STORE ?= file://$(CURDIR)/.models
export MODEL_STORE
MODEL_VERSION ?= latest
# Where the fetched, verified model lives: what `make serve` serves and what the image bakes in.
MODEL_DIR := build/model
PORT ?= 8080
APT_TOOLS := buildah debootstrap wrk chromium
# Debian's prometheus: promtool and a real Prometheus for tests/monitoring. Without recommends: they would
# bring a node exporter, one more service. The package enables a service on 9090, the app's metrics port
# (`make serve`): the tools target disables it, and stops it where systemd runs.
PROMETHEUS_COMMANDS := prometheus promtool
# The browser the page's test drives (tests/page). Debian's chromium by default; CI on Ubuntu, where chromium
# is a snap, points this at the agent's Google Chrome (pipelines/ci.yml). Never a browser download.
CHROMIUM_PATH ?= /usr/bin/chromium
export CHROMIUM_PATH
# apt needs root: CI here runs as root, hosted build agents have password-less sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: help venv tools model serve test lint fmt docs image bench page-screenshot clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt app/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## create .venv with the program's, the app's and the dev tools' pinned packages

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

.venv-checkov/.installed: tools/checkov/requirements.txt
	$(PYTHON) -m venv .venv-checkov  # checkov pins packaging<24, pulumi needs >=26: a venv of its own
	.venv-checkov/bin/pip install -q --disable-pip-version-check -r tools/checkov/requirements.txt
	touch $@

.venv-kserve/.installed: tools/kserve/requirements.txt
	$(PYTHON) -m venv .venv-kserve  # the kserve SDK needs protobuf>=6, the app pins 5.29: a venv of its own
	.venv-kserve/bin/pip install -q --disable-pip-version-check -r tools/kserve/requirements.txt
	touch $@

.venv-mlserver/.installed: tools/mlserver/requirements.txt
	$(PYTHON) -m venv .venv-mlserver  # MLServer pins fastapi 0.115, protobuf 6, uvloop<0.22: a venv of its own
	.venv-mlserver/bin/pip install -q --disable-pip-version-check -r tools/mlserver/requirements.txt
	touch $@

# The tools' own environments, independent of each other: made side by side (their downloads and unpacking
# overlap) on a fresh machine.
TOOL_ENVS := node_modules/.installed .venv-checkov/.installed .venv-kserve/.installed .venv-mlserver/.installed

tools: venv ## everything the tests run: Azurite, checkov, the kserve SDK, MLServer, buildah, promtool...
	@$(MAKE) --no-print-directory -j 4 $(TOOL_ENVS)
	@missing=$$(for t in $(APT_TOOLS); do \
	  if [ $$t = chromium ]; then [ -x "$(CHROMIUM_PATH)" ]; else command -v $$t >/dev/null; fi || echo $$t; \
	done); \
	bare=$$(for c in $(PROMETHEUS_COMMANDS); do command -v $$c >/dev/null || echo prometheus; done | sort -u); \
	if [ -n "$$missing$$bare" ]; then $(SUDO) apt-get update -q; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing" $$missing "with apt-get"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi; \
	if [ -n "$$bare" ]; then \
	  echo "installing" $$bare "with apt-get --no-install-recommends"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$bare; \
	fi
	@if systemctl is-enabled --quiet prometheus 2>/dev/null; then $(SUDO) systemctl disable -q prometheus; fi
	@if [ -d /run/systemd/system ] && systemctl is-active --quiet prometheus; then $(SUDO) systemctl stop prometheus; fi

model: venv ## fetch MODEL_VERSION from MODEL_STORE into build/model (publishing the reference model into an empty store)
	@if ! $(PY) -m model list --json | $(PY) -c 'import json,sys; sys.exit(not any(v["complete"] for v in json.load(sys.stdin)))'; then \
	  echo "$(MODEL_STORE) has no model yet: training and publishing the reference model"; \
	  $(PY) -m model publish; \
	fi
	$(PY) -m model fetch --version $(MODEL_VERSION) --dest $(MODEL_DIR)

serve: model ## serve the app with the model from MODEL_STORE on http://127.0.0.1:$(PORT)
	@echo "serving on http://127.0.0.1:$(PORT)  (Ctrl-C stops it)"
	@echo "try:  curl -s http://127.0.0.1:$(PORT)/v1/predict -H 'content-type: application/json' \\"
	@echo "        -d '{\"instances\": [[0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,0,3,15,2,0,11,8,0,0,4,12,0,0,8,8,0,0,5,8,0,0,9,8,0,0,4,11,0,1,12,7,0,0,2,14,5,10,12,0,0,0,0,6,13,10,0,0,0]]}'"
	MODEL_DIR=$(MODEL_DIR) HOST=127.0.0.1 PORT=$(PORT) \
	  GIT_COMMIT=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
	  APP_VERSION=$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml) $(PY) -m app

image: model ## build the app image with build/model baked in (Docker if an engine answers, else buildah); last line: JSON figures
	$(PY) -m tools.image.build --no-fetch

bench: tools model ## serving throughput/latency beside its yardsticks, start time, image figures; last line: JSON
	$(PY) -m bench --image --model-dir $(MODEL_DIR)

test: tools ## the whole suite: model, app, page (in Chromium), image, Pulumi program, pipelines, policies (needs package registries, no Azure)
	mkdir -p build
	$(PY) -m pytest -n 2 --dist loadfile --junitxml=build/junit.xml --cov=model --cov=app --cov=infra --cov=policy \
	  --cov-report=xml:build/coverage.xml --cov-report=term:skip-covered

lint: venv ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: venv ## ruff format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

docs: venv ## rewrite the README's tables of aiapp:* keys from infra/config/ (a test fails when they differ)
	$(PY) -m infra.config

page-screenshot: tools ## drive the page in headless Chromium (its test) and copy the README's screenshot to docs/page.png
	$(PY) -m pytest -q tests/page/test_browser.py
	mkdir -p docs && cp build/page/page.png docs/page.png

clean: ## remove build outputs and caches (keeps .venv, node_modules and the model store)
	rm -rf build .pytest_cache .ruff_cache .hypothesis .coverage
