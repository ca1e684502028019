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

.PHONY: help demo test test-rust test-py venv build validate deploy invoke bench fuzz lint clean

help:
	@echo "make demo      build, generate a sample with injected attacks, analyse it, show findings and summaries"
	@echo "make test      install test tools (.venv), start moto, run every test, stop moto"
	@echo "make bench     benchmark analyze against zcat and DuckDB (writes BENCHMARKS.md)"
	@echo "make invoke    run the real Lambda binary on events/s3-put.json against moto, print the SNS message"
	@echo "make build     cargo lambda build --release --arm64 (target/lambda/flowguard-lambda/bootstrap)"
	@echo "make validate  cfn-lint infra/template.yaml"
	@echo "make deploy    sam build && sam deploy --guided"
	@echo "make fuzz      run each cargo-fuzz target for FUZZ_SECONDS (default 60)"

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
	@if [ ! -f $(DEMO)/input/$(DEMO_KEY) ]; then \
	  ./target/release/flowguard generate --records $(DEMO_RECORDS) --seed 42 --format v5 \
	    --output $(DEMO)/input/$(DEMO_KEY) --manifest $(DEMO)/manifest.json; fi
	@rm -rf $(DEMO)/summaries
	@echo; echo "== flowguard analyze $(DEMO)/input --out $(DEMO)/summaries"; echo
	./target/release/flowguard analyze --out $(DEMO)/summaries $(DEMO)/input
	@echo; echo "== summaries written (Hive-style partitions, gzip NDJSON):"
	@cd $(DEMO)/summaries && find . -name '*.json.gz' | sort
	@echo; echo "== files row:"; zcat $(DEMO)/summaries/flowguard/files/*/*/*/*/*.json.gz
	@echo; echo "== admin table (SSH/RDP), first rows:"; zcat $(DEMO)/summaries/flowguard/admin/*/*/*/*/*.json.gz | head -5
	@echo; echo "== top talkers:"; zcat $(DEMO)/summaries/flowguard/talkers/*/*/*/*/*.json.gz | head -3
	@echo; echo "Injected attacks (what should be found): $(DEMO)/manifest.json"

test: venv lint
	$(CARGO) build --lib --no-default-features
	$(CARGO) build --bins
	$(CARGO) test --all-targets
	$(VPY) -m pytest -q tests/infra tests/summaries tests/formats
	scripts/with-moto $(VPY) -m pytest -q tests/e2e

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

bench: venv
	$(CARGO) build --release --bins
	scripts/with-moto $(VPY) scripts/bench.py --lambda --lambda-bin target/release/flowguard-lambda

fuzz:
	scripts/fuzz.sh $${FUZZ_SECONDS:-60}

# The checks a maintainer relies on; `make test` runs them first.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

clean:
	rm -rf $(DEMO) target/lambda
