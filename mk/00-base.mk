# Base set-up: Debian packages, Node.js packages, the CUDA 13.0 headers/nvcc from PyPI wheels,
# TypeScript build. deps-apt comes first: everything after it may need a compiler.
DEPS_TARGETS += deps-apt deps-npm deps-cuda
BUILD_TARGETS += build-ts

.PHONY: deps-apt deps-npm deps-cuda build-ts
deps-apt: ## Debian packages of hack/apt-packages.txt (root, or a user with sudo; silent when present)
	@hack/apt-deps.sh

deps-npm: | deps-apt ## npm packages of all workspaces
	@if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	  npm ci --no-audit --no-fund; fi

deps-cuda: | deps-apt ## CUDA 13.0 toolkit folder (headers, nvcc) under $(AVEC_CACHE)
	@hack/cuda-toolkit.sh >/dev/null

build-ts: deps-npm ## compile every TypeScript workspace (tsconfig.json references them in dependency order)
	@hack/prune-stale-dist.sh
	npx tsc -b

# @avec/common (the one logger and error type) and @avec/api (the API contract: names and CR schemas).
TEST_TARGETS += test-packages
.PHONY: test-packages
test-packages: build-ts ## @avec/common and @avec/api tests (logger, errors; CRD <-> zod schema consistency)
	node --test --test-concurrency=1 --test-reporter=spec --test-timeout=60000 packages/common/dist/ packages/api/dist/
