# Klaxon — Kubernetes-native incident response.
#
# `make run` starts Klaxon on an embedded control plane; `make test` runs every test.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

ROOT := $(shell pwd)
BIN := $(ROOT)/bin
K8S_VERSION := 1.37.2
KUBEBUILDER_ASSETS := $(BIN)/k8s/$(K8S_VERSION)
KUBECTL := $(KUBEBUILDER_ASSETS)/kubectl
export KUBEBUILDER_ASSETS

CONTROLLER_GEN_VERSION := v0.23.0
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)

# Installing into a real cluster (the current kubeconfig context).
IMG ?= ghcr.io/klaxon-ops/klaxon:$(shell sed -n 's/^appVersion: "\(.*\)"/\1/p' charts/klaxon/Chart.yaml)
NAMESPACE ?= klaxon-system
RELEASE ?= klaxon
HELM_FLAGS ?=

# Go test flags: the suite runs with the race detector; a controller is concurrent code.
GO_TEST_FLAGS ?= -race -timeout 30m
GENERATED := api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml config/webhook/manifests.yaml

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./api/..." paths="./controllers/..." paths="./internal/webhook/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: verify
verify: manifests generate ## Fail if codegen changes the tree or code is not gofmt-ed.
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
		echo "codegen changed the tree; run 'make manifests generate' and commit:"; \
		git status --porcelain -- $(GENERATED); git --no-pager diff --stat -- $(GENERATED); exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then \
		echo "not gofmt-ed:"; echo "$$unformatted"; exit 1; fi

.PHONY: envtest
envtest: ## Build kube-apiserver, kube-controller-manager, kubectl and etcd into bin/k8s/ (once).
	@hack/setup-envtest.sh >/dev/null

.PHONY: test
test: verify vet envtest policy-test ## Run every test: unit, envtest against a real kube-apiserver, end to end.
	go test $(GO_TEST_FLAGS) ./...

.PHONY: policy-test
policy-test: ## Run the default policy library's Rego tests.
	go test ./policies/...

.PHONY: test-e2e
test-e2e: envtest ## Run only the end-to-end tests.
	go test $(GO_TEST_FLAGS) ./test/e2e/...

##@ Benchmarks

.PHONY: bench
bench: envtest ## Run the benchmarks and load harnesses (outside make test) and print their figures.
	go test -run='^$$' -bench=. -benchmem -cpu 1 ./internal/policy/
	go run ./test/bench/postmortem
	go run ./test/load/paging
	go run ./test/load/intake

##@ Build and run

.PHONY: build
build: ## Build the manager into bin/klaxon.
	go build -o $(BIN)/klaxon ./cmd/klaxon

.PHONY: run
run: envtest build ## Run Klaxon on an embedded control plane with the samples (state in .klaxon/).
	$(BIN)/klaxon --local --local-binaries=$(KUBEBUILDER_ASSETS) --metrics-bind-address=127.0.0.1:8080 --health-probe-bind-address=127.0.0.1:8081 --zap-encoder=console

##@ Install into a cluster

.PHONY: image
image: ## Build the image IMG with docker (Dockerfile).
	docker build -t $(IMG) .

.PHONY: deploy
deploy: ## Install or upgrade Klaxon (CRDs, RBAC, webhooks, the manager) with the Helm chart into the current kubeconfig context; IMG, NAMESPACE, RELEASE, HELM_FLAGS.
	@helm=$$(hack/install-helm.sh) && \
	kubectl=$$(command -v kubectl || { hack/setup-envtest.sh >/dev/null && echo $(KUBECTL); }) && \
	img='$(IMG)' && \
	$$kubectl apply --server-side --force-conflicts -f charts/klaxon/crds/ && \
	$$helm upgrade --install $(RELEASE) charts/klaxon --namespace $(NAMESPACE) --create-namespace \
		--set image.repository="$${img%:*}" --set image.tag="$${img##*:}" $(HELM_FLAGS)

.PHONY: undeploy
undeploy: ## Uninstall the release (the CRDs and every incident stay; delete them with kubectl delete -f charts/klaxon/crds/).
	@helm=$$(hack/install-helm.sh) && $$helm uninstall $(RELEASE) --namespace $(NAMESPACE)

$(CONTROLLER_GEN):
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/controller-gen $(CONTROLLER_GEN)
