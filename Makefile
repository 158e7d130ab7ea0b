# salesbench — entry points. `make reports` and `make test` set everything up on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DATA   ?= demo
JOBS   ?= auto
PYTEST_ARGS ?=

.PHONY: setup warm reports test lab bench clean-cache help

help:
	@echo "make reports   build the demo data and render every report into reports/latest/index.html"
	@echo "make test      run the test suite"
	@echo "make lab       open the notebooks in JupyterLab"
	@echo "make warm      compile the reports' models into the PyTensor cache (done once by set-up)"
	@echo "make bench     run the benchmarks (slow; not part of the tests)"

# Create the virtual environment and install salesbench (editable) with its dev extras.
# Re-runs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "salesbench needs Python >= 3.11, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing salesbench and its dependencies into $(VENV) (first run only; a few minutes)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@echo "compiling the reports' models once (salesbench warm), so the first report run does not"
	@$(BIN)/salesbench warm || echo "salesbench warm failed: the first report run compiles instead"
	@touch $(STAMP)

setup: $(STAMP)

# Compile the PyTensor models again (e.g. after clearing ~/.pytensor); setup does it once.
warm: setup
	@$(BIN)/salesbench warm

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
