# Test control plane: etcd, kube-apiserver, kubectl, helm built from their Go modules (cached).
KUBE_BIN := $(AVEC_CACHE)/kube/bin
export AVEC_KUBE_BIN := $(KUBE_BIN)
DEPS_TARGETS += deps-kube

.PHONY: deps-kube
deps-kube: ## build etcd, kube-apiserver, kubectl, helm into $(AVEC_CACHE)/kube/bin (cached)
	@hack/kube-toolchain.sh
