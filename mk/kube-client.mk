# @avec/kube (packages/kube): thin helpers over @kubernetes/client-node shared by operator,
# remoting-server and e2e. build-ts compiles it first (the other workspaces reference it).
TEST_TARGETS += test-kube-client

.PHONY: build-kube-client test-kube-client
build-kube-client: deps-npm
	npx tsc -b packages/kube

test-kube-client: build-kube-client ## shared Kubernetes client tests (error mapping, kubeconfig and in-cluster loading, pagination)
	cd packages/kube && node --test --test-concurrency=1 --test-reporter=spec --test-timeout=60000 dist/
