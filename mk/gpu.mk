# GPU end-to-end suite and benchmarks. Not part of `make test` (CI has no GPU).
#   make gpu-e2e    builds everything for the GPU machine into .gpu/ (programs, stub-free shim/executor
#                   copies, linkshaper, tools); on the GPU machine: `bash e2e/gpu/run.sh`
#   make bench-gpu  same preparation plus the benchmark binaries; on the GPU machine: `bash e2e/gpu/bench.sh`
# Everything lands in .gpu/ (git-ignored); carry `.gpu` to the GPU machine.
GPU_DIR := $(ROOT)/.gpu
GPU_SRC := $(ROOT)/e2e/gpu/programs
GPU_BENCH_SRC := $(ROOT)/e2e/gpu/bench
NVCC := $(CUDA_HOME)/bin/nvcc
GPU_ARCH := -gencode arch=compute_90,code=[sm_90,compute_90]
NVCC_FLAGS := -std=c++17 -O2 $(GPU_ARCH) -Xcompiler -Wall,-Wno-unused-function
GPU_PROGRAMS := device_query context_driver memory streams_events modules_driver launch procaddr_errors sgemm ptds_threads ordering memlimit \
                mempool vmm ipc graphs managed tex2d_linear tex_layered_cube surf_write array3d device_printf
GPU_BENCH := bench_gpu

GPU_OBJS := $(patsubst %,$(GPU_DIR)/obj/%.o,$(GPU_PROGRAMS))
GPU_BIN_STATIC := $(patsubst %,$(GPU_DIR)/bin/static/%,$(GPU_PROGRAMS))
GPU_BIN_SHARED := $(patsubst %,$(GPU_DIR)/bin/shared/%,$(GPU_PROGRAMS))
GPU_BENCH_BIN := $(patsubst %,$(GPU_DIR)/bin/static/%,$(GPU_BENCH)) $(patsubst %,$(GPU_DIR)/bin/shared/%,$(GPU_BENCH))
GPU_TOOLS := $(GPU_DIR)/bin/nvml_query $(GPU_DIR)/bin/linkshaper $(GPU_DIR)/bin/tcpfloor $(GPU_DIR)/bin/avec_ping \
             $(GPU_DIR)/bin/libexptrace.so $(GPU_DIR)/bin/copy_bench

TEST_TARGETS += test-linkshaper test-exptrace

.PHONY: gpu-programs gpu-e2e bench-gpu gpu-avec gpu-clean test-linkshaper test-exptrace
test-exptrace: $(GPU_DIR)/bin/libexptrace.so ## CPU test of the export-table tracer against a stand-in libcuda
	e2e/gpu/tools/exptrace_test/test.sh $<
test-linkshaper: $(GPU_DIR)/bin/linkshaper $(GPU_DIR)/bin/tcpfloor ## CPU test of the link-shaping proxy (delay, rate, integrity)
	tools/linkshaper/test.sh $(GPU_DIR)/bin
gpu-programs: $(GPU_BIN_STATIC) $(GPU_BIN_SHARED) $(GPU_BENCH_BIN) $(GPU_TOOLS) $(GPU_DIR)/lib/libcudart.so.13 ## build the GPU test programs (static + shared cudart) into .gpu/

gpu-e2e: gpu-programs gpu-avec ## prepare .gpu/ for the GPU end-to-end run (then on the GPU machine: bash e2e/gpu/run.sh)
	@du -sh $(GPU_DIR) | awk '{print "gpu-e2e: .gpu is " $$1 " (carry limit 64 MiB)"}'

bench-gpu: gpu-e2e ## prepare .gpu/ for the GPU benchmark (then on the GPU machine: bash e2e/gpu/bench.sh)

# The shim and the executor, copied from their own build targets when those exist.
gpu-avec:
	@mkdir -p $(GPU_DIR)/avec
	@if grep -q '^shim:' $(ROOT)/mk/*.mk; then $(MAKE) --no-print-directory shim || echo "gpu-avec: 'make shim' failed"; else echo "gpu-avec: no 'shim' target yet"; fi
	@if grep -q '^native:' $(ROOT)/mk/*.mk; then $(MAKE) --no-print-directory native soak-client || echo "gpu-avec: 'make native soak-client' failed"; else echo "gpu-avec: no 'native' target yet"; fi
	@for f in $(BUILD)/shim/libcuda.so.1 $(BUILD)/shim/libnvidia-ml.so.1 $(BUILD)/native/avec-executor $(BUILD)/native/soak-client; do \
	  if [ -f $$f ]; then cp -f $$f $(GPU_DIR)/avec/; else echo "gpu-avec: missing $$f"; fi; done
	@git -C $(ROOT) rev-parse --short HEAD > $(GPU_DIR)/commit 2>/dev/null || echo unknown > $(GPU_DIR)/commit
	@d=$$(git -C $(ROOT) status --porcelain --untracked-files=no 2>/dev/null | awk '{print $$2}' | cut -d/ -f1-2 | sort -u | tr '\n' ' ' || true); \
	  [ -z "$$d" ] || echo "+uncommitted changes in: $$d" >> $(GPU_DIR)/commit

# Driver-API programs link against libcuda.so.1; the toolkit from wheels has no stub, so make one with
# exactly the cu* symbols the objects need (same SONAME; never shipped, never loaded at run time).
$(GPU_DIR)/stub/libcuda.so: $(GPU_OBJS) $(GPU_DIR)/obj/bench_gpu.o
	@mkdir -p $(@D)
	nm -u $^ | awk '$$1=="U" && $$2 ~ /^cu[A-Z]/ {print $$2}' | sort -u | \
	  awk '{print "void " $$1 "(void) {}"}' > $(@D)/stub.c
	$(CC) -shared -fPIC -Wl,-soname,libcuda.so.1 -o $@ $(@D)/stub.c

$(GPU_DIR)/gen/kern_mod_images.h: $(GPU_SRC)/kern_mod.cu
	@mkdir -p $(@D)
	$(NVCC) -fatbin $(GPU_ARCH) $< -o $(@D)/kern_mod.fatbin
	$(NVCC) -cubin -arch=sm_90 $< -o $(@D)/kern_mod.cubin
	$(NVCC) -ptx -arch=compute_90 $< -o $(@D)/kern_mod.ptx
	printf '\0' >> $(@D)/kern_mod.ptx
	cd $(@D) && { for f in kern_mod.fatbin kern_mod.cubin kern_mod.ptx; do xxd -i $$f; done; } | \
	  sed 's/^unsigned char/alignas(64) static const unsigned char/; s/^unsigned int/static const unsigned int/' > $@.tmp
	mv $@.tmp $@

$(GPU_DIR)/obj/modules_driver.o: $(GPU_DIR)/gen/kern_mod_images.h
$(GPU_DIR)/obj/ptds_threads.o: NVCC_EXTRA := --default-stream per-thread
$(GPU_DIR)/obj/%.o: $(GPU_SRC)/%.cu $(GPU_SRC)/common.h
	@mkdir -p $(@D)
	$(NVCC) $(NVCC_FLAGS) $(NVCC_EXTRA) -I$(GPU_DIR)/gen -c $< -o $@
$(GPU_DIR)/obj/%.o: $(GPU_BENCH_SRC)/%.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCC_FLAGS) -c $< -o $@

$(GPU_DIR)/bin/static/%: $(GPU_DIR)/obj/%.o $(GPU_DIR)/stub/libcuda.so
	@mkdir -p $(@D)
	$(NVCC) $(GPU_ARCH) -cudart static $< -o $@ -L$(GPU_DIR)/stub -lcuda -lpthread
$(GPU_DIR)/bin/shared/%: $(GPU_DIR)/obj/%.o $(GPU_DIR)/stub/libcuda.so
	@mkdir -p $(@D)
	$(NVCC) $(GPU_ARCH) -cudart shared $< -o $@ -L$(GPU_DIR)/stub -lcuda -lpthread

$(GPU_DIR)/bin/nvml_query: $(GPU_SRC)/nvml_query.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -o $@ $< -ldl
# Export-table tracer (LD_PRELOAD, native runs only): e2e/gpu/trace_cupy_matmul.sh
$(GPU_DIR)/bin/libexptrace.so: $(ROOT)/e2e/gpu/tools/exptrace.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -std=gnu11 -shared -fPIC -o $@ $< -ldl -lpthread
$(GPU_DIR)/bin/linkshaper: $(ROOT)/tools/linkshaper/linkshaper.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -std=gnu11 -o $@ $< -lpthread
$(GPU_DIR)/bin/tcpfloor: $(GPU_BENCH_SRC)/tcpfloor.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -std=gnu11 -o $@ $< -lpthread
# Driver-API copies (shim/tests/bench): linked against the shim's soname, run natively on the machine's
# libcuda.so.1 (no rpath) and remotely under LD_PRELOAD of the shim.
$(GPU_DIR)/bin/copy_bench: $(ROOT)/shim/tests/bench/copy_bench.c $(SHIM_CUDA_SO)
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -std=gnu11 -I$(CUDA_HOME)/include -o $@ $< -L$(SHIM_OUT) -lcuda
$(GPU_DIR)/bin/avec_ping: $(GPU_BENCH_SRC)/avec_ping.c $(ROOT)/wire/avec_wire.h
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -std=gnu11 -I$(ROOT)/wire -o $@ $<

# Fallback for -cudart shared programs where the GPU machine's CUDA install has none (run.sh prefers the machine's).
$(GPU_DIR)/lib/libcudart.so.13: $(CUDA_HOME)/lib/libcudart.so.13
	@mkdir -p $(@D)
	cp -f $< $@

gpu-clean: ## remove .gpu/
	rm -rf $(GPU_DIR)

# NVIDIA's public CUDA samples (issue 11): built here (their source from CUDA_SAMPLES_SRC, see
# e2e/gpu/samples/build.sh), run on the GPU machine natively and through the shim by e2e/gpu/samples.sh.
.PHONY: gpu-samples deps-cuda-libs test-gpu-samples
TEST_TARGETS += test-gpu-samples
deps-cuda-libs: | deps-cuda ## CUDA 13.0 library wheels (cuBLAS, cuFFT, NPP, ...) for gpu-samples only, not in make deps
	@hack/cuda-libs.sh >/dev/null
gpu-samples: deps-cuda-libs gpu-avec ## build NVIDIA's CUDA samples into .gpu/samples/samples.tar.xz (then: bash e2e/gpu/samples.sh)
	e2e/gpu/samples/build.sh
	@du -sh $(GPU_DIR) | awk '{print "gpu-samples: .gpu is " $$1 " (carry limit 64 MiB)"}'
test-gpu-samples: ## CPU test of the samples runner (stand-in samples, no GPU)
	e2e/gpu/samples/test/test.sh
