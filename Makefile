# Thin wrappers over cargo. See README.md.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: deps build lint test test-long test-upgrade bench demo fmt clean sim sim-national fuzz

deps:
	@scripts/install-deps

build: deps
	$(CARGO) build --release --bins

fmt:
	$(CARGO) fmt --all

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

# The whole suite: formatting, clippy, unit and property tests, and the
# end-to-end tests against real node processes and real nats-server.
test: lint
	$(CARGO) build --bins
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) nextest run -p linkage-sim --features mutants -E 'test(every_mutant_is_caught)'

# The simulation's long sweep: SEEDS seeds from FROM (make test runs 1,000).
SEEDS ?= 10000
FROM ?= 0
sim: deps
	$(CARGO) run -p linkage-sim -- --seeds $(SEEDS) --from $(FROM)

# The simulation at a deployment's sizes (services/linkage-sim/src/scale.rs):
# 甘肃 alone, five provinces under 全国政协, the nation (china.toml), with
# steady traffic on every channel kind; a province offline for OFFLINE
# virtual seconds, then 全国政协 restarted; prints the scale table.
STEADY ?= 60
OFFLINE ?= 3600
sim-national: deps
	$(CARGO) run --release -p linkage-sim -- --national --steady $(STEADY) --offline $(OFFLINE) --settle 1800

# Coverage-guided fuzzing of everything a peer or client can send
# (services/linkage-fuzz), with overflow checks and debug assertions (-a):
# FUZZ_SECONDS per target, then the corpus is
# minimised in place; `make test` replays fuzz/corpus on stable.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := envelope verify_run mutated_run peer_messages append_request page_token
fuzz: deps
	scripts/install-deps fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t && \
	  cargo +nightly fuzz run -O -a $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 || exit 1; \
	  cargo +nightly fuzz cmin -O -a $$t corpus/$$t || exit 1; \
	done

# The long fault-injection runs: 200 kill -9 rounds instead of 20, 100,000
# events through the outage tests instead of 10,000, 50,000 across Gansu.
test-long: deps
	LINKAGE_LONG_TESTS=1 $(MAKE) test

# Real nodes of older versions beside this one (tests/upgrade.rs): the
# flag day of issue 21 with main before it (OLD_COMMIT), chains beside
# main before issue 22 (PREVIOUS_COMMIT), and the new kinds of issue 22
# (score rules, members) beside the last main without them (LAST_COMMIT),
# and issue 23's (proposals, duties, evaluation) beside main before it
# (PRE23_COMMIT). Each linkage-node is built from git first.
OLD_COMMIT ?= 07ed98b
PREVIOUS_COMMIT ?= 72b5cfa
LAST_COMMIT ?= 40e1cfc
PRE23_COMMIT ?= 1050731
test-upgrade: deps
	scripts/build-old-node $(OLD_COMMIT)
	scripts/build-old-node $(PREVIOUS_COMMIT)
	scripts/build-old-node $(LAST_COMMIT)
	scripts/build-old-node $(PRE23_COMMIT)
	$(CARGO) build --bins
	LINKAGE_OLD_NODE=$(CURDIR)/target/old-node/$(OLD_COMMIT)/linkage-node \
	LINKAGE_PREVIOUS_NODE=$(CURDIR)/target/old-node/$(PREVIOUS_COMMIT)/linkage-node \
	LINKAGE_LAST_NODE=$(CURDIR)/target/old-node/$(LAST_COMMIT)/linkage-node \
	LINKAGE_PRE23_NODE=$(CURDIR)/target/old-node/$(PRE23_COMMIT)/linkage-node \
	  $(CARGO) nextest run -p linkage-tests --test upgrade --run-ignored only

# The bench binary from `make build`: `cargo run -p linkage-bench` would
# resolve features for that package alone and build everything again.
bench: deps build
	target/release/linkage-bench

demo: build
	deploy/demo.sh

clean:
	$(CARGO) clean
