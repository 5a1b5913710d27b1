# `make run` sets up .venv and runs the bot; `make test` sets up .venv with the dev tools and
# runs the checks and the test suite (CI runs it, then `make test-load`). Both work on a fresh
# machine with Python 3.11+, and install exactly what the locks say.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# Every package pinned with its hashes (pip-tools), for Linux x86_64 and CPython 3.11: what CI
# and the Docker image run. requirements.lock for production, requirements-dev.lock with the
# dev tools; setuptools, the build backend, is in both, so the project itself is built
# without reaching the index. `make lock` refreshes them after a change to pyproject.toml
# (`make lock LOCK_FLAGS=--upgrade` takes the newest of everything pyproject.toml allows).
LOCK     := requirements.lock
DEV_LOCK := requirements-dev.lock
LOCK_FLAGS ?=
COMPILE  := $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	--all-build-deps --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS)
INSTALL  := $(BIN)/python -m pip install --quiet

.PHONY: run test test-load lint lock update-yt-dlp bench bench-store bench-conversation bench-voice bench-catchup bench-model bench-postgres bench-export sync invite clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found: $$($(PYTHON) --version))."; exit 1; }
	$(PYTHON) -m venv $(VENV)

# A stamp file per set: a warm .venv is not reinstalled until pyproject.toml or a lock changes.
$(VENV)/.installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(INSTALL) --require-hashes -r $(LOCK)
	$(INSTALL) --no-deps --no-build-isolation -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(DEV_LOCK) | $(BIN)/python
	$(INSTALL) --require-hashes -r $(DEV_LOCK)
	$(INSTALL) --no-deps --no-build-isolation -e .
	@touch $@ $(VENV)/.installed

# The locks, from pyproject.toml; pins already there are kept unless LOCK_FLAGS says otherwise.
# The next `make run` or `make test` installs what changed.
lock: $(VENV)/.installed-dev
	$(COMPILE) -o $(LOCK) pyproject.toml
	$(COMPILE) --extra dev -o $(DEV_LOCK) pyproject.toml

# yt-dlp (and its JavaScript helper) at their newest release, in both locks and in .venv:
# YouTube changes every few weeks. Commit the locks, and rebuild the image.
update-yt-dlp: $(VENV)/.installed-dev
	$(COMPILE) --upgrade-package yt-dlp --upgrade-package yt-dlp-ejs -o $(LOCK) pyproject.toml
	$(COMPILE) --upgrade-package yt-dlp --upgrade-package yt-dlp-ejs --extra dev \
		-o $(DEV_LOCK) pyproject.toml
	$(INSTALL) --require-hashes -r $(DEV_LOCK)
	@touch $(VENV)/.installed-dev $(VENV)/.installed
	@$(BIN)/python -m pip show yt-dlp | grep -E '^(Name|Version)'

run: $(VENV)/.installed
	$(BIN)/python -m app

sync: $(VENV)/.installed
	$(BIN)/python -m app sync

# The URL that adds the bot to a server; needs only DISCORD_TOKEN.
invite: $(VENV)/.installed
	$(BIN)/python -m app invite

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

bench: bench-store bench-conversation bench-voice bench-catchup bench-model bench-export

bench-store: $(VENV)/.installed-dev
	$(BIN)/python -m bench

bench-conversation: $(VENV)/.installed-dev
	$(BIN)/python -m bench.conversation_bench

bench-voice: $(VENV)/.installed-dev
	$(BIN)/python -m bench.voice_bench

bench-catchup: $(VENV)/.installed-dev
	$(BIN)/python -m bench.catchup_bench

# A decision answered by the fallback deployment, and what a json_object-only server costs.
bench-model: $(VENV)/.installed-dev
	$(BIN)/python -m bench.model_bench

# The PostgreSQL store on a PostgreSQL 18 it starts (fsync on); about a minute.
bench-postgres: $(VENV)/.installed-dev
	$(BIN)/python -m bench.postgres_bench

bench-export: $(VENV)/.installed-dev
	$(BIN)/python -m bench.export_bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
