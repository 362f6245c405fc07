# The client shim: build/shim/libcuda.so.1 (+ libcuda.so) and build/shim/libnvidia-ml.so.1, plain gcc, C11,
# libc/libdl/libpthread only. Tests: `make test-shim` (unit tests, then integration tests against a real
# emulated executor from `make native`, then nvcc-built CUDA programs through the preloaded shim).
BUILD_TARGETS += shim
TEST_TARGETS += test-shim

SHIM_OUT := $(BUILD)/shim
SHIM_OBJ := $(SHIM_OUT)/obj
SHIM_CC ?= gcc
SHIM_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g -fPIC -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter \
  -Wno-missing-field-initializers -Ishim/include -Iwire -I$(CUDA_HOME)/include \
  -include shim/include/avec_glibc.h
# nodelete: the idle-flush thread and exit handlers must never outlive a dlclose of the library.
SHIM_LDFLAGS := -shared -Wl,--version-script=shim/exports.map -Wl,-z,defs -Wl,-z,now -Wl,-z,nodelete
# libpthread and libdl stay NEEDED (empty stubs on glibc >= 2.34; where their symbols live before that).
SHIM_LIBS := -Wl,--no-as-needed -l:libpthread.so.0 -l:libdl.so.2 -Wl,--as-needed

SHIM_COMMON_SRC := $(wildcard shim/src/common/*.c) $(wildcard shim/src/transport/*.c)
SHIM_CUDA_SRC := $(wildcard shim/src/cuda/*.c) $(wildcard shim/gen/out/*.c)
SHIM_NVML_SRC := $(wildcard shim/src/nvml/*.c) shim/gen/out/nvml/nvml_stubs.c
SHIM_HDRS := $(wildcard shim/include/*.h shim/src/*/*.h) wire/avec_wire.h

shim_obj = $(patsubst shim/%.c,$(SHIM_OBJ)/%.o,$(1))

SHIM_TRANSPORT_A := $(SHIM_OUT)/libavec_transport.a
SHIM_CUDA_SO := $(SHIM_OUT)/libcuda.so.1
SHIM_NVML_SO := $(SHIM_OUT)/libnvidia-ml.so.1

.PHONY: shim shim-gen test-shim test-shim-unit test-shim-integration
shim: $(SHIM_CUDA_SO) $(SHIM_OUT)/libcuda.so $(SHIM_NVML_SO) ## build the client shim libraries

$(SHIM_OBJ)/%.o: shim/%.c $(SHIM_HDRS) | deps-cuda
	@mkdir -p $(dir $@)
	$(SHIM_CC) $(SHIM_CFLAGS) $(SHIM_INSTR) -c $< -o $@

# AVEC_STATS: the driver API sources are instrumented so each driver call can be attributed (avec_stats.h).
$(call shim_obj,$(SHIM_CUDA_SRC)): SHIM_INSTR := -finstrument-functions

$(SHIM_TRANSPORT_A): $(call shim_obj,$(SHIM_COMMON_SRC))
	@rm -f $@
	ar rcs $@ $^

$(SHIM_CUDA_SO): $(call shim_obj,$(SHIM_CUDA_SRC)) $(SHIM_TRANSPORT_A) shim/exports.map
	$(SHIM_CC) $(SHIM_LDFLAGS) -Wl,-soname,libcuda.so.1 -o $@ $(call shim_obj,$(SHIM_CUDA_SRC)) $(SHIM_TRANSPORT_A) $(SHIM_LIBS)

$(SHIM_OUT)/libcuda.so: $(SHIM_CUDA_SO)
	ln -sfn libcuda.so.1 $@

$(SHIM_NVML_SO): $(call shim_obj,$(SHIM_NVML_SRC)) $(SHIM_TRANSPORT_A) shim/exports.map
	$(SHIM_CC) $(SHIM_LDFLAGS) -Wl,-soname,libnvidia-ml.so.1 -o $@ $(call shim_obj,$(SHIM_NVML_SRC)) $(SHIM_TRANSPORT_A) $(SHIM_LIBS)

shim-gen: ## regenerate shim/gen/out from the CUDA 13.0 headers
	python3 shim/gen/gen_cuda_api.py $(CUDA_HOME)/include shim/gen/out

include shim/tests/tests.mk
