# Entry points. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JOBS ?= auto
SEEDS ?= 3

.PHONY: install test test-slow reproduce bench lint targets clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Two tiers, the same assertions: `make test` runs the fast one (the default);
# `make test-slow` the end-to-end tests marked slow and the notebooks (with their
# small CPU settings, one at a time: kernels started at once can pick the same
# port). CI runs both.
test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) -m "not slow" --durations=10 tests

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) -m slow --durations=10 tests
	$(BIN)/python -m pytest --nbmake notebooks

# FROM_SCRATCH=1 also reruns the sweeps and baseline experiments (see README).
reproduce: $(STAMP)
	$(BIN)/python scripts/reproduce.py --seeds=$(SEEDS) $(if $(FROM_SCRATCH),--from_scratch,)

# Speed of our runner against a hand-written and an AlgoPerf-style loop -> results/speed.md
bench: $(STAMP)
	$(BIN)/python scripts/benchmark_speed.py

# Re-derive workload targets and step budgets (slow: minutes per workload).
targets: $(STAMP)
	$(BIN)/python scripts/set_targets.py $(if $(WORKLOAD),--workload $(WORKLOAD),)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_layout.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
