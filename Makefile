# Two commands: `make run` opens the chat over the bundled article; `make test` passes the tests.
# Both set everything up first, on a fresh machine as in CI.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: install browser run index test test-fast lint bench bench-squad reliability clean

install: $(STAMP)

# torch goes in first, pinned to the CPU build on this machine's disk: left to the resolver,
# a bare `torch` requirement pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m assistant.embeddings.export
	touch $(STAMP)

# Debian's Chromium for the browser tests (Playwright's own browser download does not work here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

run: install
	$(BIN)/python app.py

index: install
	$(BIN)/assistant index

test: install browser
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser and not server"

lint: install
	$(BIN)/ruff check assistant tests benchmarks app.py
	$(BIN)/ruff format --check assistant tests benchmarks app.py
	$(BIN)/mypy assistant

bench: install
	cd benchmarks && ../$(BIN)/python dev_questions.py
	cd benchmarks && ../$(BIN)/python latency.py
	$(BIN)/python benchmarks/index_throughput.py
	$(BIN)/python benchmarks/embedding_precisions.py

# SQuAD against the dense and BM25 baselines, then phrases against whole sentences (about
# 25 minutes on 2 cores).
bench-squad: install
	$(BIN)/python benchmarks/squad.py
	cd benchmarks && ../$(BIN)/python answer_tuning.py

# Indexing runs killed at random moments, two writers at once, fuzzed inputs (about 17 min on
# 2 shared cores; `make reliability ARGS=--quick` about 2 min), then 20 clients on /ask (4 min).
reliability: install
	$(BIN)/python benchmarks/reliability.py $(ARGS)
	cd benchmarks && ../$(BIN)/python load.py

clean:
	rm -rf $(VENV) index/chroma index/records.sqlite index/manifest.json .pytest_cache
