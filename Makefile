# NimbusGuard operator. Targets follow kubebuilder's names; `make help` lists them.

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

# Versions of what we ship.
VERSION ?= 0.1.0
IMG ?= ghcr.io/nimbusguard/nimbusguard-operator:v$(VERSION)
BUNDLE_IMG ?= ghcr.io/nimbusguard/nimbusguard-operator-bundle:v$(VERSION)
CATALOG_IMG ?= ghcr.io/nimbusguard/nimbusguard-operator-catalog:v$(VERSION)
CONTAINER_TOOL ?= docker
KUBECTL ?= kubectl

# The project's virtualenv (made by `make venv` from pyproject.toml).
VENV ?= .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

PYTEST_ARGS ?=

.PHONY: all
all: verify test-unit

##@ General

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: venv
venv: $(VENV_STAMP) ## Create the virtualenv and install the project with its dev extras.

$(VENV_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

.PHONY: manifests
manifests: venv ## Generate the CRD (config/crd/bases), the RBAC roles and docs/configuration.md.
	$(PY) -m api.generate
	$(PY) -m hack.gen manifests

.PHONY: generate
generate: manifests ## Alias of manifests (Python has no deepcopy code to generate).

.PHONY: fmt
fmt: venv ## Format the code with ruff.
	$(PY) -m ruff format api controllers nimbusguard hack tests benchmarks
	$(PY) -m ruff check --fix-only --quiet api controllers nimbusguard hack tests benchmarks

.PHONY: lint
lint: venv ## Run ruff, mypy (strict) and the import-layering contracts.
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

.PHONY: verify
verify: venv lint ## Fail when generated files are stale; run the linters.
	$(PY) -m api.generate --check
	$(PY) -m hack.gen verify

.PHONY: test
test: verify bundle-validate catalog prometheus helm test-unit test-e2e ## Everything CI runs: verify, bundle and catalog validation, unit tests, e2e tests.

.PHONY: test-unit
test-unit: venv ## Run the unit tests.
	$(PY) -m pytest tests --ignore=tests/e2e $(PYTEST_ARGS)

# The local control planes need `make envtest`; a given kubeconfig or kind does not.
E2E_DEPS := venv prometheus container-tools
ifeq ($(NIMBUSGUARD_E2E_KUBECONFIG)$(filter kind kubeconfig,$(NIMBUSGUARD_E2E_BACKEND)),)
E2E_DEPS += envtest
endif

# pytest-xdist workers for the e2e tests; each worker starts its own local clusters (session
# fixtures are per worker) and runs whole modules (--dist loadfile). 0 runs in this process.
E2E_WORKERS ?= 2
ifeq ($(E2E_WORKERS),0)
E2E_XDIST :=
else
E2E_XDIST := -n $(E2E_WORKERS) --dist loadfile
endif

.PHONY: test-e2e
test-e2e: $(E2E_DEPS) ## Run the e2e tests against real API servers (local control planes unless kind or a kubeconfig is given; E2E_WORKERS=0 without xdist).
	$(PY) -m pytest tests/e2e $(E2E_XDIST) $(PYTEST_ARGS)

##@ Build

RUN_ARGS ?= --bind-address=127.0.0.1:8080 --metrics-bind-address=127.0.0.1:8443 --no-metrics-secure

.PHONY: run
run: venv ## Run the operator against the current kubeconfig context (RUN_ARGS adds flags).
	$(VENV)/bin/nimbusguard run $(RUN_ARGS)

.PHONY: demo
demo: venv prometheus ## The newcomer's tour: hub + member clusters, Prometheus, a replayed trace, the operator as a Pod on a real node (DEMO_ARGS=--host-operator: a host process), a live view.
	$(PY) -m hack.demo $(DEMO_ARGS)

# Empty: the Dockerfile's own default (python:3.11-slim-bookworm) with Docker, the local base
# from `make base-image` with podman.
PYTHON_IMAGE ?=

.PHONY: docker-build
docker-build: ## Build the operator image IMG: with Docker if an engine answers, else podman (see hack/docker-build.sh).
	CONTAINER_TOOL=$(CONTAINER_TOOL) PYTHON_IMAGE=$(PYTHON_IMAGE) ./hack/docker-build.sh $(IMG)

.PHONY: base-image
base-image: container-tools ## Build the local Python base image (mmdebstrap bookworm + podman import) for hosts without a registry.
	./hack/base-image.sh

.PHONY: docker-push
docker-push: ## Push the operator image IMG.
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: build-installer
build-installer: manifests ## Write dist/install.yaml: CRD, RBAC and operator Deployment for image IMG.
	mkdir -p dist
	$(PY) -m hack.gen render config/default --image $(IMG) > dist/install.yaml

##@ Deployment

ignore-not-found ?= false

.PHONY: install
install: ## Install the CRD into the cluster of the current kubeconfig context.
	$(KUBECTL) kustomize config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: ## Remove the CRD (and so every ScalingPolicy). ignore-not-found=true to ignore missing objects.
	$(KUBECTL) kustomize config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: venv ## Deploy the operator (config/default) with image IMG to the current context.
	$(PY) -m hack.gen render config/default --image $(IMG) | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove what deploy installed, CRD included. ignore-not-found=true to ignore missing objects.
	$(KUBECTL) kustomize config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

##@ Bundle

.PHONY: bundle
bundle: manifests ## Generate the OLM bundle (bundle/, bundle.Dockerfile) for VERSION and IMG.
	$(PY) -m hack.gen bundle --version $(VERSION) --image $(IMG)

.PHONY: bundle-validate
bundle-validate: ## operator-sdk bundle validate ./bundle --select-optional suite=operatorframework (warnings fail too).
	./hack/bundle-validate.sh

.PHONY: catalog
catalog: opm ## Build the OLM File-Based Catalog (dist/catalog; channel stable, edges from config/catalog/upgrades.yaml) and opm validate it.
	$(PY) -m hack.gen catalog --opm $$(./hack/go-tool.sh opm | tail -n1) --bundle-image $(BUNDLE_IMG)

.PHONY: catalog-build
catalog-build: catalog ## Build the catalog image CATALOG_IMG (needs a container engine).
	$$(./hack/go-tool.sh opm | tail -n1) generate dockerfile dist/catalog
	$(CONTAINER_TOOL) build -f dist/catalog.Dockerfile -t $(CATALOG_IMG) dist

.PHONY: catalog-push
catalog-push: ## Push the catalog image CATALOG_IMG.
	$(CONTAINER_TOOL) push $(CATALOG_IMG)

.PHONY: bundle-build
bundle-build: ## Build the bundle image BUNDLE_IMG (needs a container engine).
	$(CONTAINER_TOOL) build -f bundle.Dockerfile -t $(BUNDLE_IMG) .

.PHONY: bundle-push
bundle-push: ## Push the bundle image BUNDLE_IMG.
	$(CONTAINER_TOOL) push $(BUNDLE_IMG)

##@ Helm

.PHONY: helm-chart
helm-chart: manifests ## Generate the Helm chart (charts/nimbusguard-operator) from config/.
	$(PY) -m hack.gen helm

HELM_KUBE_VERSION ?= 1.33.0

.PHONY: helm-lint
helm-lint: helm ## helm lint --strict the chart, with every optional part on.
	$$(./hack/go-tool.sh helm | tail -n1) lint --strict --kube-version $(HELM_KUBE_VERSION) charts/nimbusguard-operator \
		--set serviceMonitor.enabled=true,prometheusRule.enabled=true,networkPolicy.enabled=true,namespace.create=true

##@ Dependencies

.PHONY: helm
helm: ## Build the pinned helm CLI from the Go module proxy (cached outside the repo).
	./hack/go-tool.sh helm

.PHONY: opm
opm: ## Build the pinned opm CLI from the Go module proxy (cached outside the repo).
	./hack/go-tool.sh opm

.PHONY: operator-sdk
operator-sdk: ## Build the pinned operator-sdk CLI from the Go module proxy (cached outside the repo).
	./hack/operator-sdk.sh

.PHONY: envtest
envtest: ## Build the pinned kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd, kwok, metrics-server, and the real node's kubelet and containerd (cached outside the repo).
	./hack/envtest.sh
	./hack/realnode-binaries.sh

.PHONY: container-tools
container-tools: ## Install podman, runc, mmdebstrap, the CNI plugins and iptables from Debian if missing.
	./hack/install-container-tools.sh

.PHONY: prometheus
prometheus: ## Install Debian's prometheus package if missing (its own service is kept off :9090).
	./hack/install-prometheus.sh

.PHONY: clusters-up
clusters-up: venv envtest ## Start local hub and member clusters in the background (KUBECONFIG printed).
	$(PY) -m hack.localcluster up --metrics-server

.PHONY: clusters-down
clusters-down: venv ## Stop the clusters started by clusters-up.
	$(PY) -m hack.localcluster down
