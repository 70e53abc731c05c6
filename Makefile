# Two commands for a new user: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
VENV := .venv

.PHONY: demo test test-fast lint stop env summary dbt-sources airflow airflow-down airflow-status

# the environment, from the lock; uv itself comes from PyPI when missing
env: $(VENV)/.synced
$(VENV)/.synced: uv.lock pyproject.toml
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --extra dev --extra bench --python 3.11
	@touch $@

demo: env
	$(VENV)/bin/cspwh demo

stop: env
	$(VENV)/bin/cspwh stop

# the real Airflow components in the background (README: Running the real scheduler); AIRFLOW_ARGS=--executor celery
airflow: env
	$(VENV)/bin/cspwh airflow up $(AIRFLOW_ARGS)

airflow-down: env
	$(VENV)/bin/cspwh airflow down

airflow-status: env
	$(VENV)/bin/cspwh airflow status

summary: env
	$(VENV)/bin/cspwh summary

dbt-sources: env
	$(VENV)/bin/cspwh dbt-sources

# two workers (pytest-xdist), a test file per worker so module fixtures are built once; TEST_WORKERS=0 runs serially
TEST_WORKERS ?= 2
test: env
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# the edit-test loop: unit tests and the integration tests that build no dbt model and run no DAG (`-m "not slow"`;
# which tests are slow is decided in tests/conftest.py)
test-fast: env
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow" $(PYTEST_ARGS)

# lint and types: ruff (lint, then format as a check), mypy on the package (pyproject.toml), sqlfluff on the dbt
# models and macros (dbt_project/.sqlfluff); .ci/run runs this before the tests, .pre-commit-config.yaml on commit
lint: env
	$(VENV)/bin/ruff check cspwh dags tests bench
	$(VENV)/bin/ruff format --check cspwh dags tests bench
	$(VENV)/bin/mypy
	cd dbt_project && ../$(VENV)/bin/sqlfluff lint models macros
