# remoting-server: the GPU-node DaemonSet (TypeScript) and its Node addon (native data-plane listener).
#   make build-remoting-server   addon -> build/addon/avec_addon.node, TypeScript -> remoting-server/dist
#   make test-remoting-server    unit tests + gRPC on loopback + addon/executor integration (node --test)
BUILD_TARGETS += build-remoting-server
TEST_TARGETS += test-remoting-server

RS_DIR := remoting-server
RS_ADDON_SRC := $(wildcard $(RS_DIR)/native/addon/src/*.cc $(RS_DIR)/native/addon/src/*.h) \
  $(RS_DIR)/native/addon/binding.gyp wire/avec_wire.h wire/avec_codec.h \
  $(RS_DIR)/native/executor/src/frame.cpp $(RS_DIR)/native/executor/src/frame.h \
  $(RS_DIR)/native/executor/src/join_channel.cpp $(RS_DIR)/native/executor/src/join_channel.h
RS_ADDON := $(BUILD)/addon/avec_addon.node

.PHONY: build-remoting-server build-remoting-server-addon build-remoting-server-ts test-remoting-server

build-remoting-server: build-remoting-server-addon build-remoting-server-ts ## remoting server: addon + TypeScript

# Only this workspace (and packages/kube, which it references), so a half-edited other workspace
# does not block this part's build and tests.
build-remoting-server-ts: deps-npm
	npx tsc -b packages/kube remoting-server

build-remoting-server-addon: $(RS_ADDON)

# node-gyp builds in native/addon/build: serialised with flock, since several make runs may share the tree.
$(RS_ADDON): $(RS_ADDON_SRC) | deps-npm
	@mkdir -p $(dir $@)
	cd $(RS_DIR)/native/addon && flock $(dir $@).build.lock sh -c \
	  'npm_config_nodedir=/usr node $(ROOT)/node_modules/node-gyp/bin/node-gyp.js rebuild -j 2 >$(dir $@)build.log 2>&1 || { tail -40 $(dir $@)build.log; exit 1; }; \
	   cp build/Release/avec_addon.node $@.tmp && mv $@.tmp $@'

# A CUDA program linked against the shim, for the shim -> server -> executor integration test.
RS_SHIM_CLIENT := $(BUILD)/remoting-server/shim-client
$(RS_SHIM_CLIENT): $(RS_DIR)/src/testdata/shim-client.c | shim deps-cuda
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -Wall -I$(CUDA_HOME)/include $< -o $@ -L$(BUILD)/shim -l:libcuda.so.1 -Wl,-rpath,$(BUILD)/shim

# The integration tests need the executor (build/native/avec-executor: make native) and the shim; the
# join tests run two of the shim's own test programs (stripes, host functions) through the server.
# The GPUNode publisher test starts a real API server with the e2e harness (e2e/dist/harness).
RS_SHIM_TESTS := $(BUILD)/shim/tests
test-remoting-server: build-remoting-server $(RS_SHIM_CLIENT) $(RS_SHIM_TESTS)/bulk_test $(RS_SHIM_TESTS)/hostfn_test ## remoting server tests (needs build/native/avec-executor)
	@npx tsc -b packages/kube e2e >/dev/null || echo "test-remoting-server: e2e has TypeScript errors; its harness may be stale" >&2
	cd $(RS_DIR) && AVEC_ADDON=$(RS_ADDON) AVEC_EXECUTOR=$(BUILD)/native/avec-executor AVEC_SHIM_CLIENT=$(RS_SHIM_CLIENT) AVEC_SHIM_TESTS=$(RS_SHIM_TESTS) \
	  timeout 600 node --test --test-reporter=spec --test-timeout=120000 dist/ \
	  || { rc=$$?; [ $$rc -eq 124 ] && echo "test-remoting-server: timed out after 600 s (a leaked handle keeps a test process alive?)" >&2; exit $$rc; }

.PHONY: bench-remoting-server
bench-remoting-server: build-remoting-server ## session setup latency: remoting server vs executor --listen (loopback, emulated)
	AVEC_ADDON=$(RS_ADDON) AVEC_EXECUTOR=$(BUILD)/native/avec-executor node $(RS_DIR)/dist/bench/session-setup.js --sessions 100

.PHONY: gen-wire-ts
gen-wire-ts: build-remoting-server-ts ## regenerate remoting-server/src/wire/wire-constants.ts from wire/avec_wire.h (a test fails when it is stale)
	node $(RS_DIR)/dist/wire/wire-gen.js
