# One command to run the server, one to run the tests; both build .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.txchat-installed
SOURCES := setup.cfg pyproject.toml $(wildcard chat/*.py chat/*/*.py) twisted/plugins/txchat_plugin.py
ARGS ?=

.PHONY: run test lint install bench bench-history bench-rooms bench-files bench-daemons clean
.PHONY: test-lowest

LOWEST := requirements/lowest.txt
PIP := python -m pip --quiet --disable-pip-version-check

# A plain (non-editable) install, as users get it; redone when sources change.
$(STAMP): $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check ".[dev]"
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/twistd --nodaemon --pidfile= chat $(ARGS)

test: $(STAMP)
	$(BIN)/python -m twisted.trial --jobs=2 $(or $(TESTS),tests)

LINTED := chat tests twisted $(wildcard bench/*.py)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# The suite on the lower bounds of setup.cfg (requirements/lowest.txt).
test-lowest:
	rm -rf .venv-lowest
	$(PYTHON) -m venv .venv-lowest
	.venv-lowest/bin/$(PIP) install --constraint $(LOWEST) ".[dev]"
	.venv-lowest/bin/python -m twisted.trial --jobs=2 $(or $(TESTS),tests)

bench: $(STAMP)
	$(BIN)/python bench/run_bench.py $(ARGS)

bench-history: $(STAMP)
	$(BIN)/python bench/history_bench.py $(ARGS)

bench-rooms: $(STAMP)
	$(BIN)/python bench/rooms_bench.py $(ARGS)

bench-files: $(STAMP)
	$(BIN)/python bench/files_bench.py $(ARGS)

bench-daemons: $(STAMP)
	$(BIN)/python bench/daemons_bench.py $(ARGS)

clean:
	rm -rf $(VENV) .venv-lowest build *.egg-info _trial_temp*
