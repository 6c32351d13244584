# CaseLedger: `make run [PORT=8000]` (demo on embedded SQLite) and `make test` (whole suite).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
PORT   ?= 8000

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/caseledger demo --db sqlite:///./caseledger.db
	$(VENV)/bin/caseledger verify --db sqlite:///./caseledger.db --trust .caseledger/trust.vkey
	@echo "public notices: http://127.0.0.1:$(PORT)/notices   API docs: http://127.0.0.1:$(PORT)/v1/docs"
	$(VENV)/bin/caseledger serve --db sqlite:///./caseledger.db --port $(PORT) --checkpoint-every 30

SRC_PY     = domain ledger projections api
TEST_PY    = tests bench

# Import contracts, ruff (all rules, ignores in pyproject.toml) and mypy --strict on the packages.
lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check $(SRC_PY) $(TEST_PY)
	$(VENV)/bin/mypy $(SRC_PY)

# Two test processes (pytest-xdist), each taking whole files so module fixtures are built once; every
# PostgreSQL test has a schema of its own and every SQLite test a file of its own. TEST_JOBS=0 runs in one.
TEST_JOBS ?= 2

test: $(STAMP) lint
	$(PY) -m pytest -q $(if $(filter 0,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile)

bench: $(STAMP)
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) caseledger.db .pytest_cache
