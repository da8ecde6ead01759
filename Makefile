# Two commands on a fresh machine: `make run` serves the API, `make test` runs the suite.
# Everything installs into .venv from pinned versions; only python3 is needed beforehand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install run migrate token test fuzz lint format clean

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(INSTALLED)

install: $(INSTALLED)

run: install migrate
	$(BIN)/python -m backend serve

migrate: install
	$(BIN)/python -m backend migrate

token: install
	@$(BIN)/python -m backend token --user-id $${USER_ID:-demo-user}

test: install
	$(BIN)/python -m pytest --cov --cov-report=term

# Schemathesis against a real server: SQLite by default, or FUZZ_DATABASE_URL (migrated first).
fuzz: install
	tests/schemathesis/run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .coverage .ruff_cache
