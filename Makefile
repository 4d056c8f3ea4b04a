# The verbs a learner uses. On a fresh machine `make ch01` and `make test` are all you need:
# both create .venv and install everything first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHAPTER := chapters/ch01_generative_modeling
OUT := outputs/ch01

.PHONY: help setup ch01 quick notebooks book lab test test-fast exercises lint format seeds bench clean

help:  ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# torch is installed first and alone so that pip takes the pinned CPU wheel and never the CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)  ## Create .venv with Python 3.11 and install everything (a second run does nothing)

# The sections run one after another in one Python process (gdl_pyro.run_chapter), each as
# `python sNN_name.py --out-dir ...` would run it: the imports are paid once, not nine times.
ch01: $(STAMP)  ## Run every chapter-1 section as a script, in reading order; outputs in outputs/ch01/<section>/
	$(PY) -m gdl_pyro.run_chapter --out-root $(OUT)

quick: $(STAMP)  ## The same as ch01 with --quick (seconds per script)
	$(PY) -m gdl_pyro.run_chapter --quick --out-root $(OUT)

# The notebooks and the book keep their own results (figures, results.json) under their own
# folders, NOTEBOOKS/<section>/; they never write make ch01's outputs/ch01. SECTIONS picks some
# sections (e.g. SECTIONS=s01_hello_world); a QUICK=1 build says so on every page.
NOTEBOOKS ?= outputs/notebooks
BOOK ?= outputs/book
SECTIONS ?=

notebooks: $(STAMP)  ## Run every section as a notebook into outputs/notebooks/ (QUICK=1: small sizes)
	$(PY) -m gdl_pyro.notebooks execute $(if $(QUICK),--quick,) --out-dir $(NOTEBOOKS) $(SECTIONS)

book: notebooks  ## The chapter as a static site from the executed notebooks: outputs/book/index.html
	$(PY) -m gdl_pyro.notebooks book --notebooks $(NOTEBOOKS) --out-dir $(BOOK) $(SECTIONS)

lab: $(STAMP)  ## Open the chapter in JupyterLab (installed into .venv on first use)
	$(PY) -m pip install --quiet jupyterlab
	$(PY) -m ipykernel install --sys-prefix --name gdl-pyro --display-name "Python (gdl-pyro)"
	$(VENV)/bin/jupyter lab chapters/ch01_generative_modeling

# One pytest worker per core: every test runs torch on one thread (tests/conftest.py), so two
# workers on two cores halve the wall time without the two competing for threads.
test: $(STAMP)  ## Run the test suite (one worker per CPU core)
	$(PY) -m pytest -n auto

# The unit loop: every test not marked slow (chapter scripts, notebooks, trainings), with
# hypothesis's properties on 15 examples instead of 60. In one process: each pytest-xdist worker
# imports torch, Pyro and ArviZ and collects every test again, which on two cores costs more time
# than the unit tests themselves. Bytecode is written even where PYTHONDONTWRITEBYTECODE is set,
# so that the second run skips recompiling the library and pytest's rewrite of every test file.
# Without pytest's log capture (handlers added and removed around every test) and its hunt for
# unraisable exceptions (gc.collect, a second each at the end); make test keeps both.
test-fast: $(STAMP)  ## Run the tests not marked slow, in one process (under half a minute)
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -m "not slow" --hypothesis-profile=gdl-fast -p no:logging -p no:unraisableexception

# Every exercise's reference solution must pass its check and every stub (read from its section
# file, as a learner sees it) must fail: otherwise the exercise, not the learner, is wrong.
exercises: $(STAMP)  ## Check every exercise's solution (must pass) and stub (must fail)
	$(PY) -m gdl_pyro.exercises

lint: $(STAMP)  ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)  ## Apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The "who wins" lines of s06 and s09 rest on these runs: each section's contenders trained again
# on seeds 0-4, stored in src/gdl_pyro/data/seed_runs.json, which the sections read.
seeds: $(STAMP)  ## Train s06's and s09's contenders on 5 seeds; store the runs the sections quote
	$(PY) -m gdl_pyro.seed_runs

bench: $(STAMP)  ## Print benchmark numbers (sampling speed, fitting speed)
	$(PY) benchmarks/run.py

clean:  ## Remove outputs and caches (keeps .venv)
	rm -rf outputs .pytest_cache .ruff_cache .hypothesis build src/*.egg-info
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
