# flowguard — two commands for a new user: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
CARGO ?= cargo
DEMO := demo-out
DEMO_KEY := AWSLogs/123456789012/vpcflowlogs/us-east-1/2025/06/26/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_20250626T1820Z_5f3c2a1b.log.gz
DEMO_RECORDS ?= 200000

.PHONY: help demo test lint-static test-rust test-py test-arm64 venv build validate deploy invoke bench fuzz lint clean

help:
	@echo "make demo      build, generate a sample with injected attacks, analyse it, show findings and summaries"
	@echo "make test      install test tools (.venv), start moto, run every test, stop moto"
	@echo "make bench     benchmark analyze against zcat and DuckDB (writes BENCHMARKS.md)"
	@echo "make invoke    run the real Lambda binary on events/s3-put.json against moto, print the SNS message"
	@echo "make build     cargo lambda build --release --arm64 (target/lambda/flowguard-lambda/bootstrap)"
	@echo "make validate  cfn-lint infra/template.yaml"
	@echo "make deploy    sam build && sam deploy --guided"
	@echo "make fuzz      run each cargo-fuzz target for FUZZ_SECONDS (default 60)"
	@echo "make test-arm64  the engine's tests built for aarch64 (the Lambda's CPU) and run under qemu-user"

# Python tools for the tests (moto, DuckDB, cfn-lint, pytest), in a local venv.
$(VENV)/.stamp: tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r tests/requirements.txt
	touch $@

venv: $(VENV)/.stamp

demo:
	$(CARGO) build --release --bin flowguard
	@mkdir -p $(DEMO)
	@if ! grep -qs instance-port-scan $(DEMO)/manifest.json; then \
	  ./target/release/flowguard generate --records $(DEMO_RECORDS) --seed 42 --format v5 --exposed 8 --outbound \
	    --output $(DEMO)/input/$(DEMO_KEY) --manifest $(DEMO)/manifest.json; fi
	@rm -rf $(DEMO)/summaries $(DEMO)/hours-summaries
	@echo; echo "== 1. One object: flowguard analyze $(DEMO)/input --out $(DEMO)/summaries"; echo
	./target/release/flowguard analyze --out $(DEMO)/summaries $(DEMO)/input
	@echo; echo "== summaries written (Hive-style partitions, gzip NDJSON):"
	@cd $(DEMO)/summaries && find . -name '*.json.gz' | sort
	@echo; echo "== files row:"; zcat $(DEMO)/summaries/flowguard/files/*/*/*/*/*.json.gz
	@echo; echo "== admin table (SSH/RDP), first rows:"; zcat $(DEMO)/summaries/flowguard/admin/*/*/*/*/*.json.gz | head -5
	@echo; echo "== top talkers:"; zcat $(DEMO)/summaries/flowguard/talkers/*/*/*/*/*.json.gz | head -3
	@echo; echo "== top rejected sources:"; zcat $(DEMO)/summaries/flowguard/rejected/*/*/*/*/*.json.gz | head -3
	@echo; echo "Injected attacks (what should be found): $(DEMO)/manifest.json"
	@if [ ! -d $(DEMO)/hours ]; then \
	  ./target/release/flowguard generate --objects 96 --records 3000 --seed 3 \
	    --output $(DEMO)/hours --manifest $(DEMO)/hours-manifest.json; fi
	@echo; echo "== 2. Eight hours of one flow log, 96 five-minute objects, attacks spread across them:"
	@echo "   flowguard analyze $(DEMO)/hours --out $(DEMO)/hours-summaries  (reports in $(DEMO)/hours-report.txt)"; echo
	@./target/release/flowguard analyze --out $(DEMO)/hours-summaries $(DEMO)/hours > $(DEMO)/hours-report.txt
	@sed -n '/^== [0-9]* notification/,$$p' $(DEMO)/hours-report.txt
	@echo; echo "== finding rows in the 96 findings summaries, and distinct finding ids:"
	@zcat $$(find $(DEMO)/hours-summaries -path '*findings*' -name '*.json.gz') | wc -l
	@zcat $$(find $(DEMO)/hours-summaries -path '*findings*' -name '*.json.gz') | grep -o '"finding_id":"[^"]*"' | sort -u | wc -l
	@echo; echo "Injected attacks (what should be found): $(DEMO)/hours-manifest.json"
	@if [ ! -d $(DEMO)/day ]; then \
	  ./target/release/flowguard generate --objects 288 --records 300 --seed 5 --format v5 --outbound \
	    --output $(DEMO)/day --manifest $(DEMO)/day-manifest.json; fi
	@echo; echo "== 3. A day of two accounts (576 five-minute objects): our own hosts scan out, brute-force,"
	@echo "   flood, beacon, upload and mine, each spread so that no object shows it, beside a crawler,"
	@echo "   a dead host retried, a backup to S3 and a SaaS every host polls:"
	@echo "   flowguard analyze $(DEMO)/day  (reports in $(DEMO)/day-report.txt)"; echo
	@./target/release/flowguard analyze $(DEMO)/day > $(DEMO)/day-report.txt
	@sed -n '/^== [0-9]* notification/,$$p' $(DEMO)/day-report.txt
	@echo; echo "Injected attacks (what should be found): $(DEMO)/day-manifest.json"

# `make test` lints while it builds: clippy-driver as the workspace wrapper
# (what `cargo clippy` itself sets) checks flowguard's own crates with
# `-D warnings` as they compile, so the dependencies build once, not once
# for clippy and again for the tests. `make lint` is the separate check.
CLIPPY_DRIVER := $(shell rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
LINTED := RUSTC_WORKSPACE_WRAPPER=$(CLIPPY_DRIVER) CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

test: venv lint-static
	@[ -n "$(CLIPPY_DRIVER)" ] || { echo "clippy-driver not found: rustup component add clippy"; exit 1; }
	$(LINTED) $(CARGO) build --lib --no-default-features
	$(LINTED) $(CARGO) build --bins
	$(LINTED) $(CARGO) test --all-targets
	$(VPY) -m pytest -q tests/infra tests/summaries tests/formats
	MOTO_SERVERS=2 scripts/with-moto $(VPY) -m pytest -q -n 2 --dist loadfile tests/e2e

build:
	@command -v cargo-lambda >/dev/null || [ -x $(VENV)/bin/cargo-lambda ] || \
	  { $(PYTHON) -m venv $(VENV) && $(VPY) -m pip install --quiet cargo-lambda; }
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --bin flowguard-lambda
	@ls -l target/lambda/flowguard-lambda/bootstrap

validate: venv
	$(VENV)/bin/cfn-lint infra/template.yaml

deploy:
	sam build --template-file infra/template.yaml --beta-features
	sam deploy --guided

invoke: venv
	$(CARGO) build --bins
	scripts/with-moto $(VPY) scripts/invoke.py events/s3-put.json

# BASELINE=path/to/flowguard adds a baseline binary, run round-robin.
# The bench binaries leave out EC2 enrichment (aws-sdk-ec2 is most of a
# release build, and the bench never enriches): the engine is the same.
bench: venv
	$(CARGO) build --release --bins --no-default-features --features aws,cli
	scripts/with-moto $(VPY) scripts/bench.py --lambda --lambda-bin target/release/flowguard-lambda --threat-list 250000 \
	  $(if $(BASELINE),--baseline $(BASELINE) --baseline-label "$(BASELINE_LABEL)")

fuzz:
	scripts/fuzz.sh $${FUZZ_SECONDS:-60}

# The Lambda runs on arm64 (Graviton): the engine's fast paths (SWAR
# parsing, the prefetch hint) are tested for that target under qemu-user.
# The CLI tests start the aarch64 binary through the same runner
# (FLOWGUARD_TEST_RUNNER), so no binfmt_misc registration is needed.
ARM64 := aarch64-unknown-linux-gnu
ARM64_RUNNER := qemu-aarch64 -L /usr/aarch64-linux-gnu
test-arm64:
	@command -v qemu-aarch64 >/dev/null && command -v aarch64-linux-gnu-gcc >/dev/null || \
	  { echo "installing qemu-user and the aarch64 cross linker (Debian packages)"; \
	    apt-get install -y qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross; }
	rustup target add $(ARM64)
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$(ARM64_RUNNER)" FLOWGUARD_TEST_RUNNER="$(ARM64_RUNNER)" \
	  $(CARGO) test --target $(ARM64) --no-default-features --features cli --lib --test tests

# The checks a maintainer relies on; `make test` runs them first.
lint: lint-static
	$(CARGO) clippy --all-targets -- -D warnings

lint-static:
	$(CARGO) fmt --all -- --check
	$(PYTHON) scripts/item_lengths.py src

clean:
	rm -rf $(DEMO) target/lambda
