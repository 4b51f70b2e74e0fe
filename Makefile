# kubesaga: `make demo` brings the platform up and runs the main job; `make test` checks it all.
# `make help` lists every target.

include infra/local/versions.env

KUBESAGA_CACHE ?= $(HOME)/.cache/kubesaga
export KUBESAGA_CACHE
UV := $(KUBESAGA_CACHE)/uv-$(UV_VERSION)/bin/uv
PYTHON := .venv/bin/python
PLATFORM := $(PYTHON) -m infra.local

.DEFAULT_GOAL := help
.PHONY: help tools venv up down status clean demo demo-processes images monitoring lint typecheck test bench chaos

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

tools: ## build or reuse the platform's tools (cached in ~/.cache/kubesaga)
	@bash infra/local/install.sh

venv: .venv/.synced ## the Python environment, from uv.lock

.venv/.synced: pyproject.toml uv.lock $(UV)
	@$(UV) sync --frozen --quiet
	@touch $@

$(UV):
	@bash infra/local/install.sh

up: tools venv ## start the local platform (Kubernetes, Kafka, Postgres, Redis, stripe-mock)
	@$(PLATFORM) up

down: ## stop every platform process
	@if [ -x $(PYTHON) ]; then $(PLATFORM) down; else echo "nothing to stop"; fi

status: venv ## show each component and how to reach it
	@$(PLATFORM) status

clean: ## stop the platform and delete its data (.local/)
	@if [ -x $(PYTHON) ]; then $(PLATFORM) clean; else rm -rf .local; fi

demo: up images ## kubesaga installed with Helm on the platform's real node, and six orders
	@$(PYTHON) -m infra.local.demo

demo-processes: up ## the inner loop: services and operator as host processes, the demo orders
	@$(PYTHON) -m infra.local.demo_processes

images: tools venv ## build the container images (buildah, no Docker) into .local/images/*.tar
	@$(PYTHON) -m infra.images build

monitoring: up images ## Prometheus Operator + a Prometheus on the node, as kube-prometheus-stack has them
	@$(PLATFORM) monitoring install

lint: venv ## ruff lint and format check, import-linter layer contracts
	@$(PYTHON) -m ruff check .
	@$(PYTHON) -m ruff format --check .
	@.venv/bin/lint-imports --no-logo --no-cache

typecheck: venv ## mypy --strict over the code and the tests
	@$(PYTHON) -m mypy

test: tools venv lint typecheck images ## lint, type-check, build the images, then pytest on the real platform
	@$(PLATFORM) run -- $(PYTHON) -m pytest

bench: tools venv ## POST /orders latency (1,000 requests) against real orders + inventory processes
	@$(PLATFORM) run -- $(PYTHON) -m tests.bench.bench_post_orders --requests 1000 --concurrency 10

chaos: tools venv ## 1,200 sagas while kill -9 and broken links hit every part; invariants must hold
	@$(PLATFORM) run -- $(PYTHON) -m tests.bench.chaos --profile long $(if $(SEED),--seed $(SEED))
