# The two commands: `make run` and `make test`. Both set up what they need first.
.PHONY: run test setup services check bench-quick clean

run: setup
	.venv/bin/novacron up $(if $(DURATION),--duration $(DURATION),)

test: setup
	scripts/test

setup:
	scripts/setup

services: setup
	scripts/services start

check: setup
	scripts/check

clean:
	scripts/services stop || true
	rm -rf .state .typecheck
