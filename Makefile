# `make run` sets up .venv and runs the bot; `make test` sets up .venv with the dev tools and
# runs the checks and the test suite (CI runs it, then `make test-load`). Both work on a fresh
# machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test test-load lint bench bench-store bench-conversation bench-voice bench-catchup bench-postgres sync clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found: $$($(PYTHON) --version))."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/python -m app

sync: $(VENV)/.installed
	$(BIN)/python -m app sync

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two workers, each with its own loopback fakes and PostgreSQL.
test: lint
	$(BIN)/python -m pytest -n 2

# About a minute of real-time traffic on each store (embedded, PostgreSQL); prints its figures.
test-load: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m load -s

bench: bench-store bench-conversation bench-voice bench-catchup

bench-store: $(VENV)/.installed-dev
	$(BIN)/python -m bench

bench-conversation: $(VENV)/.installed-dev
	$(BIN)/python -m bench.conversation_bench

bench-voice: $(VENV)/.installed-dev
	$(BIN)/python -m bench.voice_bench

bench-catchup: $(VENV)/.installed-dev
	$(BIN)/python -m bench.catchup_bench

# The PostgreSQL store on a PostgreSQL 18 it starts (fsync on); about a minute.
bench-postgres: $(VENV)/.installed-dev
	$(BIN)/python -m bench.postgres_bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
