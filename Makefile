# avec: make is the front door. Each part adds its targets in mk/<part>.mk:
#   BUILD_TARGETS += ...   built by `make build`
#   TEST_TARGETS  += ...   run by `make test` (in the order the mk files are included)
#   DEPS_TARGETS  += ...   one-time set-up run by `make deps` (apt, npm, toolchains; cached under $HOME)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath .)
BUILD := $(ROOT)/build
export AVEC_CACHE ?= $(HOME)/.cache/avec
CUDA_HOME ?= $(AVEC_CACHE)/cuda-13.0

BUILD_TARGETS :=
TEST_TARGETS :=
DEPS_TARGETS :=

include $(sort $(wildcard mk/*.mk))

.PHONY: help deps build test demo
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

deps: $(DEPS_TARGETS) ## install everything the build and tests need (idempotent, cached)

build: deps $(BUILD_TARGETS) ## build every part

test: build $(TEST_TARGETS) ## run every test suite (unit, integration, fuzz)
	@echo "make test: all suites passed"
