# remoting-server: the GPU-node DaemonSet (TypeScript) and its Node addon (native data-plane listener).
#   make build-remoting-server   addon -> build/addon/avec_addon.node, TypeScript -> remoting-server/dist
#   make test-remoting-server    unit tests + gRPC on loopback + addon/executor integration (node --test)
BUILD_TARGETS += build-remoting-server
TEST_TARGETS += test-remoting-server

RS_DIR := remoting-server
RS_ADDON_SRC := $(wildcard $(RS_DIR)/native/addon/src/*.cc $(RS_DIR)/native/addon/src/*.h) \
  $(RS_DIR)/native/addon/binding.gyp $(RS_DIR)/native/include/avec_wire.h
RS_ADDON := $(BUILD)/addon/avec_addon.node

.PHONY: build-remoting-server build-remoting-server-addon test-remoting-server

build-remoting-server: build-remoting-server-addon build-ts ## remoting server: addon + TypeScript

build-remoting-server-addon: $(RS_ADDON)

$(RS_ADDON): $(RS_ADDON_SRC) | deps-npm
	cd $(RS_DIR)/native/addon && npm_config_nodedir=/usr node $(ROOT)/node_modules/node-gyp/bin/node-gyp.js rebuild -j 2 >/dev/null 2>&1 || (cd $(ROOT)/$(RS_DIR)/native/addon && npm_config_nodedir=/usr node $(ROOT)/node_modules/node-gyp/bin/node-gyp.js build -j 2; exit 1)
	mkdir -p $(dir $@)
	cp $(RS_DIR)/native/addon/build/Release/avec_addon.node $@

# A CUDA program linked against the shim, for the shim -> server -> executor integration test.
RS_SHIM_CLIENT := $(BUILD)/remoting-server/shim-client
$(RS_SHIM_CLIENT): $(RS_DIR)/src/testdata/shim-client.c | shim deps-cuda
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -Wall -I$(CUDA_HOME)/include $< -o $@ -L$(BUILD)/shim -l:libcuda.so.1 -Wl,-rpath,$(BUILD)/shim

# The integration tests need the executor (build/native/avec-executor: make native) and the shim.
test-remoting-server: build-remoting-server $(RS_SHIM_CLIENT) ## remoting server tests (needs build/native/avec-executor)
	cd $(RS_DIR) && AVEC_ADDON=$(RS_ADDON) AVEC_EXECUTOR=$(BUILD)/native/avec-executor AVEC_SHIM_CLIENT=$(RS_SHIM_CLIENT) \
	  node --test --test-reporter=spec dist/
