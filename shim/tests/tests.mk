# Shim tests (included from mk/shim.mk). `make test-shim` runs: unit tests (C, static link of the shim's
# objects), transport tests (scripted in-process server), export checks of the built libraries, then the
# integration suite (shim/tests/run-integration.sh) against a real emulated executor from `make native`.
SHIM_TEST_OUT := $(SHIM_OUT)/tests
SHIM_NVCC := $(CUDA_HOME)/bin/nvcc
SHIM_NVCC_FLAGS := -arch=sm_90 -O2

SHIM_UNIT := $(SHIM_TEST_OUT)/unit_test
SHIM_TRANSPORT_TEST := $(SHIM_TEST_OUT)/transport_test
SHIM_DRIVER_TEST := $(SHIM_TEST_OUT)/driver_test
SHIM_MEMEXT_TEST := $(SHIM_TEST_OUT)/memext_test
SHIM_SHARE_TEST := $(SHIM_TEST_OUT)/share_test
SHIM_ARRAY_TEST := $(SHIM_TEST_OUT)/array_test
SHIM_GRAPH_TEST := $(SHIM_TEST_OUT)/graph_test
SHIM_HOSTFN_TEST := $(SHIM_TEST_OUT)/hostfn_test
SHIM_JIT_TEST := $(SHIM_TEST_OUT)/jit_test
SHIM_BULK_TEST := $(SHIM_TEST_OUT)/bulk_test
SHIM_FATBIN := $(SHIM_TEST_OUT)/kernels.fatbin
SHIM_CUDART_STATIC := $(SHIM_TEST_OUT)/cudart_test_static
SHIM_CUDART_SHARED := $(SHIM_TEST_OUT)/cudart_test_shared

$(SHIM_UNIT): shim/tests/unit/unit_test.c shim/tests/test.h $(call shim_obj,$(SHIM_CUDA_SRC)) $(SHIM_TRANSPORT_A)
	@mkdir -p $(dir $@)
	$(SHIM_CC) $(SHIM_CFLAGS) -Ishim/src/cuda -o $@ $< $(call shim_obj,$(SHIM_CUDA_SRC)) $(SHIM_TRANSPORT_A) $(SHIM_LIBS)

$(SHIM_TRANSPORT_TEST): shim/tests/unit/transport_test.c shim/tests/test.h $(SHIM_TRANSPORT_A)
	@mkdir -p $(dir $@)
	$(SHIM_CC) $(SHIM_CFLAGS) -o $@ $< $(SHIM_TRANSPORT_A) $(SHIM_LIBS)

$(SHIM_FATBIN): shim/tests/integration/kernels.cu | deps-cuda
	@mkdir -p $(dir $@)
	$(SHIM_NVCC) $(SHIM_NVCC_FLAGS) --compress-mode=none -fatbin -o $@ $<

# Linked against the shim like a program linked with -lcuda.
$(SHIM_DRIVER_TEST): shim/tests/integration/driver_test.c shim/tests/test.h $(SHIM_CUDA_SO) $(SHIM_OUT)/libcuda.so
	@mkdir -p $(dir $@)
	$(SHIM_CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wno-deprecated-declarations -I$(CUDA_HOME)/include -o $@ $< -L$(SHIM_OUT) -lcuda -ldl -lpthread \
	  -Wl,-rpath,$(SHIM_OUT)

$(SHIM_MEMEXT_TEST): shim/tests/integration/memext_test.c shim/tests/test.h $(SHIM_CUDA_SO) $(SHIM_OUT)/libcuda.so
	@mkdir -p $(dir $@)
	$(SHIM_CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -I$(CUDA_HOME)/include -o $@ $< -L$(SHIM_OUT) -lcuda -Wl,-rpath,$(SHIM_OUT)

$(SHIM_SHARE_TEST): shim/tests/integration/share_test.c shim/tests/test.h $(SHIM_CUDA_SO) $(SHIM_OUT)/libcuda.so
	@mkdir -p $(dir $@)
	$(SHIM_CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -I$(CUDA_HOME)/include -o $@ $< -L$(SHIM_OUT) -lcuda -Wl,-rpath,$(SHIM_OUT)

$(SHIM_ARRAY_TEST): shim/tests/integration/array_test.c shim/tests/test.h $(SHIM_CUDA_SO) $(SHIM_OUT)/libcuda.so
	@mkdir -p $(dir $@)
	$(SHIM_CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wno-deprecated-declarations -I$(CUDA_HOME)/include -o $@ $< -L$(SHIM_OUT) -lcuda \
	  -Wl,-rpath,$(SHIM_OUT)

$(SHIM_GRAPH_TEST): shim/tests/integration/graph_test.c shim/tests/test.h $(SHIM_CUDA_SO) $(SHIM_OUT)/libcuda.so
	@mkdir -p $(dir $@)
	$(SHIM_CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -I$(CUDA_HOME)/include -o $@ $< -L$(SHIM_OUT) -lcuda -Wl,-rpath,$(SHIM_OUT)

$(SHIM_HOSTFN_TEST): shim/tests/integration/hostfn_test.c shim/tests/test.h $(SHIM_CUDA_SO) $(SHIM_OUT)/libcuda.so
	@mkdir -p $(dir $@)
	$(SHIM_CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -I$(CUDA_HOME)/include -o $@ $< -L$(SHIM_OUT) -lcuda -lpthread -Wl,-rpath,$(SHIM_OUT)

$(SHIM_JIT_TEST): shim/tests/integration/jit_test.c shim/tests/test.h $(SHIM_CUDA_SO) $(SHIM_OUT)/libcuda.so
	@mkdir -p $(dir $@)
	$(SHIM_CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -I$(CUDA_HOME)/include -o $@ $< -L$(SHIM_OUT) -lcuda -Wl,-rpath,$(SHIM_OUT)

$(SHIM_BULK_TEST): shim/tests/integration/bulk_test.c shim/tests/test.h $(SHIM_CUDA_SO) $(SHIM_OUT)/libcuda.so
	@mkdir -p $(dir $@)
	$(SHIM_CC) -std=c11 -D_GNU_SOURCE -O1 -g -Wall -I$(CUDA_HOME)/include -o $@ $< -L$(SHIM_OUT) -lcuda -Wl,-rpath,$(SHIM_OUT)

$(SHIM_CUDART_STATIC): shim/tests/integration/cudart_test.cu | deps-cuda
	@mkdir -p $(dir $@)
	$(SHIM_NVCC) $(SHIM_NVCC_FLAGS) -o $@ $<

$(SHIM_CUDART_SHARED): shim/tests/integration/cudart_test.cu | deps-cuda
	@mkdir -p $(dir $@)
	$(SHIM_NVCC) $(SHIM_NVCC_FLAGS) -cudart shared -o $@ $<

# libFuzzer target over the transport's reply handling (clang; optional where clang is missing).
SHIM_FUZZ := $(SHIM_TEST_OUT)/reply_fuzz
SHIM_FUZZ_SRC := shim/tests/fuzz/reply_fuzz.c shim/src/transport/connection.c shim/src/transport/framing.c \
  shim/src/transport/config.c shim/src/transport/stripes.c shim/src/common/log.c shim/src/common/stats.c
$(SHIM_FUZZ): $(SHIM_FUZZ_SRC) $(SHIM_HDRS)
	@mkdir -p $(dir $@)
	@if command -v clang >/dev/null; then \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ishim/include -Iwire \
	    $(SHIM_FUZZ_SRC) -o $@ -lpthread -ldl; else echo "clang missing: no reply fuzzer"; fi

.PHONY: shim-tests-build
shim-tests-build: shim $(SHIM_UNIT) $(SHIM_TRANSPORT_TEST) $(SHIM_FATBIN) $(SHIM_DRIVER_TEST) $(SHIM_MEMEXT_TEST) $(SHIM_SHARE_TEST) $(SHIM_ARRAY_TEST) $(SHIM_GRAPH_TEST) $(SHIM_HOSTFN_TEST) $(SHIM_JIT_TEST) $(SHIM_BULK_TEST) $(SHIM_CUDART_STATIC) \
  $(SHIM_CUDART_SHARED) $(SHIM_FUZZ)

test-shim-unit: shim $(SHIM_UNIT) $(SHIM_TRANSPORT_TEST) $(SHIM_FATBIN) ## shim unit + transport tests
	$(SHIM_UNIT) shim/tests/data $(SHIM_FATBIN)
	$(SHIM_TRANSPORT_TEST)
	CUDA_HOME=$(CUDA_HOME) shim/tests/check-exports.sh $(SHIM_OUT)

test-shim-integration: shim-tests-build native ## shim against a real emulated executor
	CUDA_HOME=$(CUDA_HOME) shim/tests/run-integration.sh $(SHIM_OUT) $(BUILD)/native/avec-executor

test-shim: shim-tests-build native ## all shim tests (unit, transport, exports, integration)
	CUDA_HOME=$(CUDA_HOME) shim/tests/run-all.sh $(SHIM_OUT) $(BUILD)/native/avec-executor

# Optional (network, ~1 GiB): numba-cuda and CuPy in a venv under build/shim/pyenv; the integration runner
# then also runs shim/tests/python/*_smoke.py through the shim. Not part of `make test`.
shim-python-env: ## optional: venv with numba-cuda and CuPy for the shim's Python smoke tests
	@[ -x $(SHIM_OUT)/pyenv/bin/python ] || python3 -m venv $(SHIM_OUT)/pyenv
	$(SHIM_OUT)/pyenv/bin/pip install -q 'numba-cuda[cu13]==0.30.4' numpy cupy-cuda13x

# CPU copy benchmark (not a test): copy_bench through the shim against the emulated executor, with the
# TCP floors and a shaped link measured in the same run (shim/tests/bench/copy-bench.sh; BENCH_ARGS).
SHIM_BENCH_DIR := $(SHIM_TEST_OUT)/bench
$(SHIM_BENCH_DIR)/copy_bench: shim/tests/bench/copy_bench.c $(SHIM_CUDA_SO) | deps-cuda
	@mkdir -p $(dir $@)
	$(SHIM_CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -I$(CUDA_HOME)/include -o $@ $< -L$(SHIM_OUT) -lcuda -Wl,-rpath,$(SHIM_OUT)
$(SHIM_BENCH_DIR)/tcpfloor: e2e/gpu/bench/tcpfloor.c
	@mkdir -p $(dir $@)
	$(SHIM_CC) -O2 -Wall -o $@ $< -lpthread
$(SHIM_BENCH_DIR)/linkshaper: tools/linkshaper/linkshaper.c
	@mkdir -p $(dir $@)
	$(SHIM_CC) -O2 -Wall -o $@ $< -lpthread
.PHONY: bench-copy-cpu
bench-copy-cpu: shim native $(SHIM_BENCH_DIR)/copy_bench $(SHIM_BENCH_DIR)/tcpfloor $(SHIM_BENCH_DIR)/linkshaper ## copies through the shim vs TCP floors, emulated device (CPU)
	ln -sf $(abspath $(NATIVE_OUT))/avec-executor $(SHIM_BENCH_DIR)/avec-executor
	ln -sf $(abspath $(SHIM_CUDA_SO)) $(SHIM_BENCH_DIR)/libcuda.so.1
	shim/tests/bench/copy-bench.sh $(SHIM_BENCH_DIR) $(BENCH_ARGS)
