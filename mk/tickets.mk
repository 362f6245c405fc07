# @avec/tickets (packages/tickets): the one session-ticket codec and keyring (docs/tickets.md), shared
# by the operator (signs) and the remoting server (verifies). build-ts compiles it before both.
TEST_TARGETS += test-tickets

.PHONY: build-tickets test-tickets
build-tickets: deps-npm
	npx tsc -b packages/tickets

test-tickets: build-tickets ## session-ticket tests (codec, refusal reasons, keyring directory, re-read on change, docs/ticket-vectors.json)
	cd packages/tickets && node --test --test-concurrency=1 --test-reporter=spec --test-timeout=60000 dist/
