# Two commands for a fresh machine:  `make run` (set up + main job)  and  `make test` (set up + all tests).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

.PHONY: setup run test test-fast lint bench dev clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check uv
	$(VENV)/bin/uv pip install -q --python $(PY) -e ".[dev,scaleout]"
	rm -f $(VENV)/.installed-*; touch $@

run: setup                      ## materialize the whole graph for today's batch of every domain, offline
	$(VENV)/bin/apigen run

test: setup                     ## the whole suite, slow end-to-end tests included (what CI runs)
	bash scripts/install_browser.sh
	bash scripts/install_services.sh
	$(VENV)/bin/ruff check apigen_pipeline apigen_pipeline_tests bench
	$(VENV)/bin/pytest -q -n 2 --dist loadfile

test-fast: setup                ## fast tests only
	$(VENV)/bin/pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check apigen_pipeline apigen_pipeline_tests bench

bench: setup                    ## performance benchmarks; each prints measured/target ratios
	$(PY) bench/environments.py
	$(PY) bench/llm_gateway.py
	$(PY) bench/phase1.py
	$(PY) bench/phase2.py
	$(PY) bench/operations.py
	$(PY) bench/cost.py

dev: setup                      ## the Dagster UI on http://127.0.0.1:3000 with persistent history
	DAGSTER_HOME=$${DAGSTER_HOME:-$$(pwd)/.apigen_home/dagster_home} ; mkdir -p $$DAGSTER_HOME ; \
	  test -f $$DAGSTER_HOME/dagster.yaml || cp dagster.yaml $$DAGSTER_HOME/ ; \
	  DAGSTER_HOME=$$DAGSTER_HOME $(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

clean:
	rm -rf $(VENV) .apigen_home .pytest_cache .ruff_cache
