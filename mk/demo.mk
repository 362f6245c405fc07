# `make demo`: set up everything (make deps build), then run the whole system on this machine:
# control plane, helm install, operator, remoting server (real GPU if present, else emulated), a
# VirtualGPUClaim, and an nvcc-built CUDA program through the shim. See e2e/demo/README.md.
DEMO_BIN := $(BUILD)/demo/avec-demo
DEMO_NVCC_FLAGS := -std=c++17 -O2 -gencode arch=compute_75,code=compute_75 -gencode arch=compute_90,code=sm_90

DEMO_BUILD_LOG := $(BUILD)/demo/build.log

.PHONY: demo demo-program cluster-up cluster-down
# The demo prints its steps, not compiler lines: set-up and build go to a log, shown when they fail.
# $(call quiet_build,TARGETS)
define quiet_build
	@mkdir -p $(dir $(DEMO_BUILD_LOG))
	@echo "[avec] installing and building $(1) (first run: ~10 min; log: $(DEMO_BUILD_LOG))"
	@$(MAKE) --no-print-directory $(1) >$(DEMO_BUILD_LOG) 2>&1 \
	  || { tail -n 100 $(DEMO_BUILD_LOG); echo "[avec] set-up or build failed; last 100 lines above, whole log: $(DEMO_BUILD_LOG)" >&2; exit 1; }
endef

demo: ## run the end-to-end demo (control plane + operator + remoting server + CUDA program)
	$(call quiet_build,deps build demo-program)
	@node e2e/dist/demo/run-demo.js $(DEMO_BIN)

demo-program: $(DEMO_BIN) ## the demo's CUDA program (nvcc, static cudart)

$(DEMO_BIN): e2e/demo/avec-demo.cu | deps-cuda
	@mkdir -p $(dir $@)
	$(CUDA_HOME)/bin/nvcc $(DEMO_NVCC_FLAGS) -o $@ $<

# A local cluster that keeps running (control plane, operator, remoting server) for kubectl flows.
cluster-up: ## start a local avec cluster in the background and print its KUBECONFIG (make cluster-down stops it)
	$(call quiet_build,deps build)
	@node e2e/dist/cluster/cluster.js up

cluster-down: ## stop the local avec cluster started by make cluster-up
	@node e2e/dist/cluster/cluster.js down
