# Operator: CRDs, placement, webhook, controllers (TypeScript, compiled by build-ts in 00-base.mk).
TEST_TARGETS += test-operator

.PHONY: test-operator bench-placement-pure
test-operator: build-ts ## operator unit tests (placement, admission golden files, tickets, queue, leader election, webhook TLS)
	cd operator && find dist -name '*.test.js' | sort | xargs node --test --test-concurrency=1 --test-timeout=60000 --test-reporter=spec

bench-placement-pure: build-ts ## pure placement micro-benchmark: 10,000 claims, 1,000 GPU nodes, 50 sites
	node operator/dist/bench/placement-bench.js

.PHONY: bench-operator-fake
bench-operator-fake: build-ts ## operator CPU per bind against the in-memory API fake (1,000 GPU nodes, 2,000 claims)
	node operator/dist/bench/controller-bench.js
