# kubelab — thin targets; scripts live in hack/. `make help` lists them.
SHELL := /usr/bin/env bash
GO ?= go
BIN := bin
BINARIES := kubelab kube-apiserver kube-scheduler kube-controller-manager kubelet node-supervisor
GOFLAGS_BUILD := -trimpath -ldflags "-s -w"
LAB_NAME ?= kubelab

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build the binaries into bin/.
	@mkdir -p $(BIN)
	@for b in $(BINARIES); do $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/$$b ./cmd/$$b || exit 1; done

.PHONY: lab
lab: images ## Build the images that are missing or changed and create the default lab cluster (kindconfig/default.yaml, 3 Docker nodes).
	@if $(BIN)/kubelab get clusters 2>/dev/null | grep -qx '$(LAB_NAME)'; then \
		echo "Cluster $(LAB_NAME) exists already (kubectl --context kubelab-$(LAB_NAME) get nodes); \`make delete-cluster\` removes it"; \
	else \
		$(BIN)/kubelab create cluster --name $(LAB_NAME) --config kindconfig/default.yaml $(CLUSTER_FLAGS); \
	fi

.PHONY: local
local: build ## Start a lab control plane with 3 hollow nodes (kubelab local) in the foreground; Ctrl-C stops it.
	$(BIN)/kubelab local --hollow-nodes 3

.PHONY: images
images: ## Build the images whose inputs changed and print their sizes (IMAGES="etcd testapp" for some).
	hack/build-images.sh $(IMAGES)

.PHONY: node-image
node-image: ## Build the node image (and the pause image it pins) if their inputs changed.
	hack/build-images.sh node

.PHONY: check-node-image
check-node-image: ## Run a pod in a node container with crictl and curl it (hack/check-node-image.sh).
	hack/check-node-image.sh

.PHONY: delete-cluster
delete-cluster: ## Delete the default lab cluster (make lab's).
	$(GO) run ./cmd/kubelab delete cluster --name $(LAB_NAME)

.PHONY: test
test: ## Run gofmt/vet checks, unit, integration and kubectl tests (images built first where Docker runs: the cluster tests use them).
	hack/verify.sh
	@if docker info >/dev/null 2>&1; then hack/build-images.sh; else echo "No Docker daemon: the lab cluster tests will skip"; fi
	$(GO) test -count=1 ./...

.PHONY: e2e
e2e: ## Create a lab cluster, run the Ginkgo e2e suite on it (JUnit in _artifacts/), delete it (hack/e2e.sh).
	hack/e2e.sh

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 20s).
	hack/fuzz.sh

.PHONY: bench-api
bench-api: ## Benchmark the API server against its own etcd (prints a table).
	$(GO) run ./hack/bench/api

.PHONY: bench-lab
bench-lab: ## Benchmark a lab cluster: images, create until Ready, pod startup p50/p99 (creates and deletes cluster bench-lab).
	$(GO) build -o $(BIN)/bench-lab ./hack/bench/lab
	$(BIN)/bench-lab

.PHONY: bench-scheduler
bench-scheduler: ## Benchmark scheduling 10,000 pods on 5,000 hollow nodes (prints a table).
	$(GO) build -o $(BIN)/bench-scheduler ./hack/bench/scheduler
	$(BIN)/bench-scheduler

.PHONY: openapi
openapi: ## Regenerate the OpenAPI definitions from k8s.io/api.
	hack/update-openapi.sh

.PHONY: clean
clean: ## Remove build output.
	rm -rf $(BIN) _output _artifacts
