# The two set-up commands of README.md: `make demo` and `make test`.
# Both create the project-local environment .venv (Python 3.10, as lava-nc
# requires) on first use and reuse it afterwards.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
# Python 3.10 from pyenv (.python-version selects it), or any python3.10 on PATH.
PYTHON310 := $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10; do \
    $$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && echo $$p && break; done)

.PHONY: demo test test-fast test-slow lint env clean-venv

$(STAMP): pyproject.toml
	@test -n "$(PYTHON310)" || { echo "lavacut needs Python 3.10 (lava-nc 0.10.0 does not import on newer versions); install it, e.g. 'pyenv install 3.10'"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON310) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip<25"
	$(VENV)/bin/python -m pip install --quiet -e ".[test,ray]"
	touch $(STAMP)

env: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lavacut demo

# Two test workers (pytest-xdist; TEST_WORKERS=0: all in one process). A test file stays on one
# worker, so its module fixtures are made once; the longest files start first (tests/conftest.py).
# --durations: the 20 slowest tests listed at the end.
TEST_WORKERS ?= 2
test: $(STAMP) lint
	$(VENV)/bin/python -m pytest tests -n $(TEST_WORKERS) --dist loadfile --durations=20

lint: $(STAMP)
	$(VENV)/bin/ruff check lavacut tests sims setup.py docs
	$(VENV)/bin/ruff format --check lavacut tests sims setup.py docs

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest tests -m "not slow"

test-slow: $(STAMP)
	$(VENV)/bin/python -m pytest tests -m slow

clean-venv:
	rm -rf $(VENV)
