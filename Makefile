# salesbench — entry points. `make reports` and `make test` set everything up on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DATA   ?= demo
JOBS   ?= auto
PYTEST_ARGS ?=

.PHONY: setup reports test lab bench clean-cache help

help:
	@echo "make reports   build the demo data and render every report into reports/latest/index.html"
	@echo "make test      run the test suite"
	@echo "make lab       open the notebooks in JupyterLab"
	@echo "make bench     run the benchmarks (slow; not part of the tests)"

# Create the virtual environment and install salesbench (editable) with its dev extras.
# Re-runs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "salesbench needs Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing salesbench and its dependencies into $(VENV) (first run only; a few minutes)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

reports: setup
	@$(BIN)/salesbench run --data $(DATA) --jobs $(JOBS)

test: setup
	@$(BIN)/python -m pytest -q -n auto $(PYTEST_ARGS)

lab: setup
	@$(BIN)/jupyter lab notebooks/

bench: setup
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean-cache:
	rm -rf $${SALESBENCH_CACHE:-$$HOME/.cache/salesbench}/demo
