# `make demo`: set up everything (make deps build), then run the whole system on this machine:
# control plane, helm install, operator, remoting server (real GPU if present, else emulated), a
# VirtualGPUClaim, and an nvcc-built CUDA program through the shim. See e2e/demo/README.md.
DEMO_BIN := $(BUILD)/demo/avec-demo
DEMO_NVCC_FLAGS := -std=c++17 -O2 -gencode arch=compute_75,code=compute_75 -gencode arch=compute_90,code=sm_90

.PHONY: demo demo-program
demo: build demo-program ## run the end-to-end demo (control plane + operator + remoting server + CUDA program)
	node e2e/dist/demo/run-demo.js $(DEMO_BIN)

demo-program: $(DEMO_BIN) ## the demo's CUDA program (nvcc, static cudart)

$(DEMO_BIN): e2e/demo/avec-demo.cu | deps-cuda
	@mkdir -p $(dir $@)
	$(CUDA_HOME)/bin/nvcc $(DEMO_NVCC_FLAGS) -o $@ $<
