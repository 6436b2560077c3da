# The two commands a newcomer types:   make train   and   make test
# Each creates .venv (packages from pyproject.toml) and fetches Fashion-MNIST on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: train test test-all lint format data clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

data: $(STAMP)
	PYTHON=$(PY) scripts/get_fashion_mnist.sh

train: $(STAMP) data        ## the default run: python train.py $(ARGS)
	$(PY) train.py $(ARGS)

test: $(STAMP) data         ## fast suite (~8 min on 2 busy CPU cores)
	$(PY) -m pytest -q $(ARGS)

test-all: $(STAMP) data     ## fast + slow tests
	$(PY) -m pytest -q -m "slow or not slow" $(ARGS)

lint: $(STAMP)               ## ruff: lint and format check (CI fails on either)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)             ## ruff: fix the format in place
	$(VENV)/bin/ruff format .

clean-venv:
	rm -rf $(VENV)
