# The Makefile is thin: each target is one script or one compose command,
# and CI (.ci/run) calls these same targets. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

# go.mod names the Go release the stack is built and tested with; an older
# local go fetches it from the module proxy.
GOTOOLCHAIN ?= auto
export GOTOOLCHAIN
IMAGE_TAG ?= dev
export IMAGE_TAG
COMPOSE ?= docker compose
# Engines from v25 take healthcheck.start_interval; older ones reject it, so
# it lives in an override file added only when the engine is new enough.
ENGINE_MAJOR := $(shell docker version -f '{{.Server.Version}}' 2>/dev/null | cut -d. -f1)
compose_files = -f deploy/$(1)/compose.yaml $(if $(shell [ "$(ENGINE_MAJOR)" -ge 25 ] 2>/dev/null && echo y),-f deploy/$(1)/start-interval.yaml)
BASIC   := $(COMPOSE) --project-directory deploy/basic $(call compose_files,basic)
CLUSTER := $(COMPOSE) --project-directory deploy/cluster $(call compose_files,cluster)
FRONTEND_PORT ?= 3000
API_PORT ?= 8000
LB_HTTP_PORT ?= 80
LB_HTTPS_PORT ?= 443
export FRONTEND_PORT API_PORT LB_HTTP_PORT LB_HTTPS_PORT

.PHONY: help tools secrets images up down logs ps cluster cluster-down swarm-up swarm-down push swarm-lab \
	observability-images observability observability-down e2e-observability \
	test lint e2e e2e-cluster resilience-cluster resilience-swarm bench-api bench-lb bench-e2e bench-frontend clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-19s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

tools: ## Install Compose v2 and buildx as Docker CLI plugins when missing
	bash scripts/install-docker-plugins.sh

secrets: ## Generate deploy/secrets/*.txt on first use (never committed)
	bash scripts/secrets.sh

images: ## Build every image the stack uses (stand-ins from Debian when no registry answers)
	bash scripts/images.sh

up: secrets images ## Run the basic stack and wait until every service is healthy
	$(BASIC) up -d --no-build --wait --wait-timeout 300
	echo "frontend: http://localhost:$(FRONTEND_PORT)/"
	echo "api:      http://localhost:$(API_PORT)/api/status  (docs: http://localhost:$(API_PORT)/docs)"

down: ## Stop the basic stack (volumes are kept; add -v by hand to drop them)
	$(BASIC) --profile observability down --remove-orphans

logs: ## Follow the basic stack's logs
	$(BASIC) logs -f

ps: ## Show the basic stack's containers and their health
	$(BASIC) ps

cluster: secrets images ## Run the load-balanced cluster (lb on 443, port 80 redirects to it; 3 api replicas)
	$(CLUSTER) up -d --no-build --wait --wait-timeout 300
	echo "cluster: https://localhost:$(LB_HTTPS_PORT)/  (certificate deploy/secrets/tls_cert.pem; http://localhost:$(LB_HTTP_PORT)/ redirects)"

cluster-down: ## Stop the cluster
	$(CLUSTER) --profile observability down --remove-orphans

observability-images: ## Build the observability profile's images (VictoriaMetrics, VictoriaLogs, vlagent, Jaeger, console) from the Go module proxy
	bash scripts/observability-images.sh

observability: secrets images observability-images ## Start metrics, logs and traces stores beside the running pattern (cluster if none), tracing on; print the URLs
	BASIC_COMPOSE="$(BASIC)" CLUSTER_COMPOSE="$(CLUSTER)" bash scripts/observability.sh up

e2e-observability: secrets images observability-images ## One request through the cluster's lb followed in the trace, log and metrics stores, and the console in a browser
	OBS_PATTERN=cluster BASIC_COMPOSE="$(BASIC)" CLUSTER_COMPOSE="$(CLUSTER)" bash scripts/observability.sh up
	bash scripts/e2e.sh observability

observability-down: ## Stop the observability profile; the services stop exporting traces
	BASIC_COMPOSE="$(BASIC)" CLUSTER_COMPOSE="$(CLUSTER)" bash scripts/observability.sh down

swarm-up: secrets images ## Deploy the swarm stack (initialises a one-node swarm if needed)
	bash scripts/swarm.sh up

swarm-down: ## Remove the swarm stack
	bash scripts/swarm.sh down

push: images ## Build, tag and push every image of the stack to REGISTRY (e.g. REGISTRY=ghcr.io/org make push)
	bash scripts/push.sh

# SWARM_LAB_FAULTS picks the faults (all: every one; the three-manager one
# on a second lab); scripts/swarm-lab.sh up|deploy|check|fault|down runs a step.
swarm-lab: secrets images ## Three-node Docker-in-Docker swarm: own registry, stack deployed, faults under load, removed
	bash scripts/swarm-lab.sh run

test: ## Run every test (go test -race ./... and the tools module) (PostgreSQL and Redis via testcontainers or TEST_*_URL)
	bash scripts/test.sh

lint: ## gofmt, go vet, staticcheck, Dockerfile lint, shellcheck, compose config
	bash scripts/lint.sh

# The suites sign in dozens of times a minute from one address: the stack
# is (re)started with a sign-in limit that allows it.
E2E_LIMITS := RATE_LIMIT_LOGIN=600/m

e2e: secrets images ## End-to-end tests (api, lb, browser) against the basic stack, started if needed
	$(E2E_LIMITS) $(BASIC) up -d --no-build --wait --wait-timeout 300
	bash scripts/e2e.sh basic

e2e-cluster: secrets images ## End-to-end tests through the cluster's lb, started if needed
	$(E2E_LIMITS) $(CLUSTER) up -d --no-build --wait --wait-timeout 300
	bash scripts/e2e.sh cluster

# The resilience checks run against the stack that runs, as it was started
# (their load fits in the default rate limits), and start it when none does.
resilience-cluster: secrets images ## Crash, kill and stop api replicas under load through the cluster's lb (started if needed): no failed request
	$(CLUSTER) ps --status running --services | grep -qx lb || $(CLUSTER) up -d --no-build --wait --wait-timeout 300
	bash scripts/resilience.sh cluster

resilience-swarm: secrets images ## Kill an api task, roll the api, roll back a broken update, under load through the swarm's lb (deployed if needed)
	docker service inspect docker_examples_api >/dev/null 2>&1 || bash scripts/swarm.sh up
	bash scripts/resilience.sh swarm

bench-api: ## The api against a bare net/http handler with the same round trips, natively (PostgreSQL, Redis started by the script; wrk)
	bash scripts/bench-api.sh

bench-lb: ## Our lb against nginx and HAProxy: 1k/32k/256k, with and without Content-Length, HTTP/1.1 and HTTP/2 (wrk, h2load)
	bash scripts/bench-lb.sh

bench-e2e: secrets images ## Through the cluster's lb to 3 api replicas, and the same with nginx in its place (starts and stops the cluster)
	CLUSTER="$(CLUSTER)" bash scripts/bench-e2e.sh

bench-frontend: ## The frontend's assets against nginx (wrk), and the first view's size
	bash scripts/bench-frontend.sh

clean: ## Remove build output
	rm -rf out
