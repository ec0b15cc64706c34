# The two commands: `make run` (set up everything and serve) and `make test` (every test CI runs).
# Build outputs go under ~/.cache so repeated runs — and CI on this machine — build incrementally.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/rapport/target
export CARGO_BUILD_JOBS ?= 2
# Absolute, because cargo runs each test binary from its own crate directory.
export RAPPORT_DATA_DIR ?= $(CURDIR)/.rapport
export RAPPORT_MODEL_DIR ?= $(RAPPORT_DATA_DIR)/models

BIN := $(CARGO_TARGET_DIR)/release/rapport

.PHONY: run test models build postgres chromium fmt lint bench eval

## Fetch models, build (release), migrate, ingest the demo knowledge (only what changed), serve on
## http://127.0.0.1:$${RAPPORT_PORT:-8080}.
run: models build
	$(BIN) migrate
	$(BIN) ingest dir knowledge --prefix Demo
	$(BIN) serve

## Every test: store and queue on SQLite and PostgreSQL, embedder, HTTP end to end, and the web
## chat widget in a headless Chromium.
test: models postgres chromium
	cargo test --workspace --locked

build:
	cargo build --release --locked

models:
	scripts/fetch-models "$(RAPPORT_MODEL_DIR)"

## Starts the local PostgreSQL cluster if it is installed and down (tests need 127.0.0.1:5432).
postgres:
	@scripts/ensure-postgres

## Installs Debian's Chromium and chromedriver for the widget's browser test, if missing.
chromium:
	@scripts/ensure-chromium

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

## Speed figures on this machine (see README, "Benchmarks").
bench: models build
	$(BIN) bench embed

EVAL_DATA ?= ../shared/eval-data

## Retrieval quality, three modes, on the help-center dev set and StackFAQ (see README, "Evaluation").
eval: models build
	$(BIN) eval retrieval --corpus $(EVAL_DATA)/chatwoot-hc/corpus.jsonl --questions eval/chatwoot-hc/questions.jsonl --mode all --json
	$(BIN) eval retrieval --corpus $(EVAL_DATA)/stackfaq/corpus.jsonl --questions $(EVAL_DATA)/stackfaq/questions.jsonl --mode all --json
