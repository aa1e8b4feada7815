# One command to run the server, one to run the tests; both build .venv first,
# with the locked versions (requirements/dev.txt: the exact versions tested).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.txchat-installed
SOURCES := setup.cfg pyproject.toml $(wildcard chat/*.py chat/*/*.py chat/web/static/*) twisted/plugins/txchat_plugin.py
ARGS ?=

.PHONY: run test lint install bench bench-history bench-rooms bench-files bench-daemons clean
.PHONY: screenshots
.PHONY: test-latest test-lowest lock upgrade

LOCK := requirements/dev.txt
LOWEST := requirements/lowest.txt
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.tools-installed
PIP := python -m pip --quiet --disable-pip-version-check

# The lock, then txchat itself with no new resolution: a plain (non-editable)
# install, as users get it, built with the locked setuptools. Redone when the
# sources or the lock change. setuptools builds in build/ and packs whatever
# is there, so it starts empty: a deleted module must not stay installed.
$(STAMP): $(SOURCES) $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/$(PIP) install --require-hashes -r $(LOCK)
	rm -rf build
	$(BIN)/$(PIP) install --no-deps --no-build-isolation .
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(BIN)/twistd --nodaemon --pidfile= chat $(ARGS)

test: $(STAMP)
	$(BIN)/python -m twisted.trial --jobs=2 $(or $(TESTS),tests)

LINTED := chat tests twisted tools $(wildcard bench/*.py)

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# The suite on the newest releases, ignoring the lock, in a venv of its own:
# the next upstream break shows up here before it reaches the lock.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	rm -rf build
	.venv-latest/bin/$(PIP) install --upgrade --upgrade-strategy eager ".[dev]"
	.venv-latest/bin/python -m twisted.trial --jobs=2 $(or $(TESTS),tests)

# The suite on the lower bounds of setup.cfg (requirements/lowest.txt).
test-lowest:
	rm -rf .venv-lowest
	$(PYTHON) -m venv .venv-lowest
	rm -rf build
	.venv-lowest/bin/$(PIP) install --constraint $(LOWEST) ".[dev]"
	.venv-lowest/bin/python -m twisted.trial --jobs=2 $(or $(TESTS),tests)

# pip-compile, pinned (requirements/tools.in), in a venv of its own.
$(TOOLS_STAMP): requirements/tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/$(PIP) install --require-hashes -r requirements/tools.txt
	touch $@

# Hashes for every file of each pinned release; setuptools and wheel too, as
# txchat is built without build isolation. No machine's index paths.
COMPILE := $(TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-find-links --no-emit-index-url
COMPILE_DEV := CUSTOM_COMPILE_COMMAND="make lock, or make upgrade" \
	$(COMPILE) --extra dev --build-deps-for wheel -o $(LOCK) setup.cfg

# Lock again after editing setup.cfg, keeping every pin that still fits.
lock: $(TOOLS_STAMP)
	$(COMPILE_DEV)

# Move the lock (and the lock tool's own) to the newest releases, on purpose.
upgrade: $(TOOLS_STAMP)
	$(COMPILE_DEV) --upgrade
	CUSTOM_COMPILE_COMMAND="make upgrade" $(COMPILE) --upgrade \
		-o requirements/tools.txt requirements/tools.in

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

# docs/screenshots/*.png, from a scene played into the installed server
# (Debian's chromium, driven by Playwright: apt-get install chromium).
screenshots: $(STAMP)
	$(BIN)/python -m tools.screenshots $(ARGS)

clean:
	rm -rf $(VENV) .venv-latest .venv-lowest $(TOOLS) build *.egg-info _trial_temp*
