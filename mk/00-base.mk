# Base set-up: Node.js packages, the CUDA 13.0 headers/nvcc from PyPI wheels, TypeScript build.
DEPS_TARGETS += deps-npm deps-cuda
BUILD_TARGETS += build-ts

.PHONY: deps-npm deps-cuda build-ts
deps-npm: ## npm packages of all workspaces
	@if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	  npm ci --no-audit --no-fund; fi

deps-cuda: ## CUDA 13.0 toolkit folder (headers, nvcc) under $(AVEC_CACHE)
	@hack/cuda-toolkit.sh >/dev/null

build-ts: deps-npm ## compile the TypeScript workspaces (packages/ first: the others reference them)
	npx tsc -b packages/kube packages/tickets operator remoting-server e2e
