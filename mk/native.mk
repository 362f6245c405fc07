# The executor and data-plane server (remoting-server/native, except addon/): C++17, libc/libstdc++/libdl.
#   make native        build/native/avec-executor
#   make test-native   unit + integration tests (prints "N passed, M failed"), then the libFuzzer runs
#                      (frame decoder and session loop on the emulated device, FUZZ_SECONDS each)
BUILD_TARGETS += native
TEST_TARGETS += test-native

NATIVE_DIR := remoting-server/native
NATIVE_EXEC := $(NATIVE_DIR)/executor
NATIVE_OUT := $(BUILD)/native
NATIVE_OBJ := $(NATIVE_OUT)/obj
NATIVE_CXX ?= g++
NATIVE_CXXFLAGS := -std=c++17 -O2 -g -Wall -Wextra -Wno-unused-parameter -fno-strict-aliasing \
  -Iwire -I$(NATIVE_EXEC)/src -I$(CUDA_HOME)/include -MMD -MP
NATIVE_LIBS := -ldl -lpthread
FUZZ_SECONDS ?= 15

NATIVE_CORE_SRC := $(filter-out $(NATIVE_EXEC)/src/main.cpp,$(wildcard $(NATIVE_EXEC)/src/*.cpp)) \
  $(wildcard $(NATIVE_EXEC)/backends/emulated/*.cpp) $(wildcard $(NATIVE_EXEC)/backends/cuda/*.cpp)
NATIVE_CORE_OBJ := $(patsubst $(NATIVE_DIR)/%.cpp,$(NATIVE_OBJ)/%.o,$(NATIVE_CORE_SRC))
NATIVE_TEST_BINS := $(NATIVE_OUT)/unit-tests $(NATIVE_OUT)/integration-tests $(NATIVE_OUT)/mock-driver/libcuda.so.1 \
  $(NATIVE_OUT)/mock-shim/libcuda.so.1
NATIVE_FUZZ_BINS := $(NATIVE_OUT)/fuzz-decoder $(NATIVE_OUT)/fuzz-session $(NATIVE_OUT)/fuzz-hello_peek

.PHONY: native test-native fuzz-native native-clean bench-native native-gpu-test test-native-gpu test-native-asan
native: $(NATIVE_OUT)/avec-executor ## build the executor (build/native/avec-executor)

$(NATIVE_OBJ)/%.o: $(NATIVE_DIR)/%.cpp | deps-cuda
	@mkdir -p $(dir $@)
	$(NATIVE_CXX) $(NATIVE_CXXFLAGS) -c $< -o $@

$(NATIVE_OUT)/libavec-exec.a: $(NATIVE_CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(NATIVE_OUT)/avec-executor: $(NATIVE_OBJ)/executor/src/main.o $(NATIVE_OUT)/libavec-exec.a
	$(NATIVE_CXX) -o $@ $^ $(NATIVE_LIBS)

# The unit tests also link the shim's SHA-256 to check that both ends hash module images alike.
$(NATIVE_OBJ)/executor/tests/unit_tests.o: NATIVE_CXXFLAGS += -Ishim/include
$(NATIVE_OBJ)/shim_sha256.o: shim/src/common/sha256.c
	@mkdir -p $(dir $@)
	gcc -std=c11 -O2 -Ishim/include -c $< -o $@

$(NATIVE_OUT)/unit-tests: $(NATIVE_OBJ)/executor/tests/unit_tests.o $(NATIVE_OBJ)/shim_sha256.o $(NATIVE_OUT)/libavec-exec.a
	$(NATIVE_CXX) -o $@ $^ $(NATIVE_LIBS)

$(NATIVE_OUT)/integration-tests: $(NATIVE_OBJ)/executor/tests/integration_tests.o $(NATIVE_OBJ)/executor/tests/integration_limits_tests.o \
  $(NATIVE_OBJ)/executor/tests/integration_cuda_tests.o $(NATIVE_OBJ)/executor/tests/integration_share_tests.o \
  $(NATIVE_OUT)/libavec-exec.a
	$(NATIVE_CXX) -o $@ $^ $(NATIVE_LIBS)

# A test double of the driver (tests/mock_driver.cpp) so the CUDA backend runs without a GPU; the
# second build exports the shim's marker symbol and must be refused.
$(NATIVE_OUT)/mock-driver/libcuda.so.1: $(NATIVE_EXEC)/tests/mock_driver.cpp | deps-cuda
	@mkdir -p $(dir $@)
	$(NATIVE_CXX) -std=c++17 -O1 -g -shared -fPIC -fvisibility=hidden -Wl,-soname,libcuda.so.1 -I$(CUDA_HOME)/include -o $@ $<

$(NATIVE_OUT)/mock-shim/libcuda.so.1: $(NATIVE_EXEC)/tests/mock_driver.cpp | deps-cuda
	@mkdir -p $(dir $@)
	$(NATIVE_CXX) -std=c++17 -O1 -g -shared -fPIC -fvisibility=hidden -DMOCK_SHIM_MARKER -Wl,-soname,libcuda.so.1 -I$(CUDA_HOME)/include -o $@ $<

# libFuzzer targets: clang, ASan + UBSan; the core (no CUDA backend) is compiled once for both fuzzers.
NATIVE_FUZZ_SRC := $(filter-out $(wildcard $(NATIVE_EXEC)/backends/cuda/*.cpp),$(NATIVE_CORE_SRC))
NATIVE_FUZZ_OBJ := $(patsubst $(NATIVE_DIR)/%.cpp,$(NATIVE_OUT)/fuzz-obj/%.o,$(NATIVE_FUZZ_SRC))
NATIVE_FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
NATIVE_FUZZ_FLAGS := -std=c++17 -O1 -g $(NATIVE_FUZZ_SAN) -Iwire -I$(NATIVE_EXEC)/src \
  -I$(CUDA_HOME)/include -MMD -MP
$(NATIVE_OUT)/fuzz-obj/%.o: $(NATIVE_DIR)/%.cpp | deps-cuda
	@mkdir -p $(dir $@)
	clang++ $(NATIVE_FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(NATIVE_OUT)/fuzz-%: $(NATIVE_OUT)/fuzz-obj/executor/fuzz/fuzz_%.o $(NATIVE_FUZZ_OBJ)
	clang++ -fsanitize=fuzzer $(NATIVE_FUZZ_SAN) -o $@ $^ $(NATIVE_LIBS)

# The remoting server's HELLO peek (addon/src/hello-peek.cc) against the executor's decoder.
NATIVE_ADDON_SRC := $(NATIVE_DIR)/addon/src
$(NATIVE_OUT)/fuzz-obj/executor/fuzz/fuzz_hello_peek.o: NATIVE_FUZZ_FLAGS += -I$(NATIVE_ADDON_SRC)
$(NATIVE_OUT)/fuzz-obj/addon/hello-peek.o: $(NATIVE_ADDON_SRC)/hello-peek.cc | deps-cuda
	@mkdir -p $(dir $@)
	clang++ $(NATIVE_FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(NATIVE_OUT)/fuzz-hello_peek: $(NATIVE_OUT)/fuzz-obj/addon/hello-peek.o

# keep the objects between runs (make would delete them as intermediates of the pattern rule)
.SECONDARY: $(NATIVE_FUZZ_OBJ) $(NATIVE_OUT)/fuzz-obj/executor/fuzz/fuzz_decoder.o $(NATIVE_OUT)/fuzz-obj/executor/fuzz/fuzz_session.o \
  $(NATIVE_OUT)/fuzz-obj/executor/fuzz/fuzz_hello_peek.o $(NATIVE_OUT)/fuzz-obj/addon/hello-peek.o

test-native: native $(NATIVE_TEST_BINS) $(NATIVE_FUZZ_BINS) ## executor unit + integration tests, then FUZZ_SECONDS of fuzzing per target
	@set +e; \
	$(NATIVE_OUT)/unit-tests $(NATIVE_EXEC)/tests | tee $(NATIVE_OUT)/unit-tests.out; u=$${PIPESTATUS[0]}; \
	AVEC_EXECUTOR=$(NATIVE_OUT)/avec-executor AVEC_MOCK_DRIVER_DIR=$(NATIVE_OUT)/mock-driver AVEC_MOCK_SHIM_DIR=$(NATIVE_OUT)/mock-shim \
	  $(NATIVE_OUT)/integration-tests | tee $(NATIVE_OUT)/integration-tests.out; i=$${PIPESTATUS[0]}; \
	tail -qn1 $(NATIVE_OUT)/unit-tests.out $(NATIVE_OUT)/integration-tests.out | \
	  awk '{p+=$$1; f+=$$3} END {printf "native unit+integration: %d passed, %d failed\n", p, f}'; \
	[ $$u -eq 0 ] && [ $$i -eq 0 ]
	@$(MAKE) --no-print-directory fuzz-native

fuzz-native: $(NATIVE_FUZZ_BINS) ## run the fuzzers (FUZZ_SECONDS each; corpus copied to build/native/corpus)
	@for t in decoder session hello_peek; do \
	  mkdir -p $(NATIVE_OUT)/corpus/$$t; \
	  echo "fuzz-$$t: $(FUZZ_SECONDS) s"; \
	  $(NATIVE_OUT)/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
	    $(NATIVE_OUT)/corpus/$$t $(NATIVE_EXEC)/fuzz/corpus/$$t 2>$(NATIVE_OUT)/fuzz-$$t.log \
	    || { tail -60 $(NATIVE_OUT)/fuzz-$$t.log; echo "fuzz-$$t: FAILED (crash input saved in the current directory)"; exit 1; }; \
	  grep -E "stat::number_of_executed_units|Done" $(NATIVE_OUT)/fuzz-$$t.log | tail -2; \
	done

# The data-plane client of the soak/chaos run (e2e/gpu/soak.sh; make gpu-e2e copies it into .gpu/avec).
.PHONY: soak-client test-soak
soak-client: $(NATIVE_OUT)/soak-client
$(NATIVE_OUT)/soak-client: $(NATIVE_OBJ)/executor/tests/soak_client.o
	$(NATIVE_CXX) -o $@ $^

# The soak/chaos script on this machine (emulated device), short: exercised by every make test.
TEST_TARGETS += test-soak
test-soak: native $(NATIVE_OUT)/soak-client ## soak/chaos run against the emulated device (SOAK_SECONDS, default 20)
	AVEC_SOAK_EXECUTOR=$(NATIVE_OUT)/avec-executor AVEC_SOAK_CLIENT=$(NATIVE_OUT)/soak-client AVEC_SOAK_BACKEND=emulated \
	  bash e2e/gpu/soak.sh $${SOAK_SECONDS:-20}

.PHONY: attack-native
attack-native: native ## issue 9's attacks replayed against the emulated executor, with figures (not a test)
	python3 $(NATIVE_EXEC)/tests/attack_limits.py $(NATIVE_OUT)/avec-executor

$(NATIVE_OUT)/bench-dataplane: $(NATIVE_OBJ)/executor/tests/bench_dataplane.o
	$(NATIVE_CXX) -o $@ $^

bench-native: native $(NATIVE_OUT)/bench-dataplane ## data-plane micro-benchmark against a local emulated executor (BENCH_MIB, default 256)
	@port=$$((20000 + RANDOM % 20000)); \
	$(NATIVE_OUT)/avec-executor --listen 127.0.0.1:$$port --backend emulated --emulated-memory 2147483648 --log-level warn & pid=$$!; \
	sleep 0.3; $(NATIVE_OUT)/bench-dataplane 127.0.0.1:$$port $${BENCH_MIB:-256}; rc=$$?; kill $$pid; exit $$rc

# The CUDA-backend integration tests on a real GPU: the same tests with the real driver and this image.
$(NATIVE_OUT)/gpu-kernels.fatbin: $(NATIVE_EXEC)/tests/gpu_kernels.cu | deps-cuda
	@mkdir -p $(dir $@)
	$(CUDA_HOME)/bin/nvcc -gencode arch=compute_90,code=[sm_90,compute_90] -fatbin -o $@ $<

native-gpu-test: native $(NATIVE_TEST_BINS) $(NATIVE_OUT)/gpu-kernels.fatbin ## build what test-native-gpu needs (on any machine)

test-native-gpu: native-gpu-test ## on a GPU machine: executor integration tests against the real driver
	AVEC_EXECUTOR=$(NATIVE_OUT)/avec-executor AVEC_MOCK_DRIVER_DIR=$(NATIVE_OUT)/mock-driver AVEC_MOCK_SHIM_DIR=$(NATIVE_OUT)/mock-shim \
	  AVEC_TEST_GPU_FATBIN=$(NATIVE_OUT)/gpu-kernels.fatbin $(NATIVE_OUT)/integration-tests

# The integration tests against an ASan+UBSan build of the executor (listener, --fd, CUDA backend on the
# mock): any sanitizer report of any executor process fails the run. Not in TEST_TARGETS (build ~1 min).
$(NATIVE_OUT)/asan/avec-executor: $(NATIVE_CORE_SRC) $(NATIVE_EXEC)/src/main.cpp $(wildcard $(NATIVE_EXEC)/src/*.h) | deps-cuda
	@mkdir -p $(dir $@)
	$(NATIVE_CXX) -std=c++17 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	  -Iwire -I$(NATIVE_EXEC)/src -I$(CUDA_HOME)/include -o $@ $(NATIVE_CORE_SRC) $(NATIVE_EXEC)/src/main.cpp $(NATIVE_LIBS)

test-native-asan: $(NATIVE_OUT)/asan/avec-executor $(NATIVE_TEST_BINS) ## integration tests against a sanitizer build of the executor
	@rm -rf $(NATIVE_OUT)/asan/reports && mkdir -p $(NATIVE_OUT)/asan/reports
	ASAN_OPTIONS=log_path=$(NATIVE_OUT)/asan/reports/asan UBSAN_OPTIONS=log_path=$(NATIVE_OUT)/asan/reports/ubsan \
	  AVEC_EXECUTOR=$(NATIVE_OUT)/asan/avec-executor AVEC_MOCK_DRIVER_DIR=$(NATIVE_OUT)/mock-driver \
	  AVEC_MOCK_SHIM_DIR=$(NATIVE_OUT)/mock-shim $(NATIVE_OUT)/integration-tests
	@if ls $(NATIVE_OUT)/asan/reports/* >/dev/null 2>&1; then head -40 $(NATIVE_OUT)/asan/reports/*; \
	  echo "test-native-asan: sanitizer reports above"; exit 1; else echo "test-native-asan: no sanitizer reports"; fi

native-clean:
	rm -rf $(NATIVE_OUT)

-include $(wildcard $(NATIVE_OBJ)/*/*.d $(NATIVE_OBJ)/*/*/*.d $(NATIVE_OBJ)/*/*/*/*.d)
-include $(wildcard $(NATIVE_OUT)/fuzz-obj/*/*/*.d $(NATIVE_OUT)/fuzz-obj/*/*/*/*.d)
