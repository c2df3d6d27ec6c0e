# The project's entry points. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
HTMX := static/vendor/htmx.min.js
PG_BIN := /usr/lib/postgresql/15/bin

.PHONY: run test check bench lock system-deps format clean

run: $(VENV)/.runtime $(HTMX)
	$(PY) -m app migrate
	$(PY) -m app seed-demo
	$(PY) -m app serve

# Both cores; modules that start their own processes keep to one worker (tests/conftest.py).
# Compiled modules are kept beside the sources even where the environment says not to write
# them: the suite's own processes reuse them too (collecting the suite in one process took 5.0 s
# without, 1.1 s with), and the servers and commands it starts use the libraries' compiled
# modules as installed (tests/conftest.py's separate directory, for a bare pytest, has none).
test: $(VENV)/.dev $(HTMX) system-deps check
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n auto --dist loadgroup

check: $(VENV)/.dev
	$(VENV)/bin/ruff format --check app tests bench migrations
	$(VENV)/bin/ruff check app tests bench migrations
	$(VENV)/bin/mypy app

format: $(VENV)/.dev
	$(VENV)/bin/ruff format app tests bench migrations
	$(VENV)/bin/ruff check --fix app tests bench migrations

bench: $(VENV)/.dev $(HTMX) system-deps
	$(PY) -m bench

$(PY):
	$(PYTHON) -m venv $(VENV)

# Exact versions from the lock files; the project itself installed editable for `starboard`.
$(VENV)/.runtime: requirements.lock pyproject.toml | $(PY)
	$(PIP) install --require-hashes -r requirements.lock
	$(PIP) install --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.lock pyproject.toml | $(PY)
	$(PIP) install --require-hashes -r requirements-dev.lock
	$(PIP) install --no-deps -e .
	touch $@ $(VENV)/.runtime

$(HTMX): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $@

# What the tests run for real: redis-server, Chromium, PostgreSQL's binaries; wrk for `make bench`.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x $(PG_BIN)/initdb ] || missing="$$missing postgresql-15"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "make test needs the system packages:$$missing (install them with apt-get as root)"; exit 1; \
	  fi; \
	fi

lock: | $(PY)
	$(PIP) install uv
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -q -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -q -o requirements-dev.lock

clean:
	rm -rf $(VENV) node_modules static/vendor
