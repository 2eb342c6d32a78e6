# rclicks: `make demo` and `make test` work on a fresh clone (they create .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.rclicks-installed
PLUGINS := plugins/rclicks-plugin-template

.PHONY: install demo test lint format clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(PLUGINS)/pyproject.toml
	$(BIN)/python -m pip install -q -e ".[test]" $(foreach p,$(PLUGINS),-e $(p))
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/rclicks eval

test: install
	$(BIN)/ruff check rclicks tests benchmarks scripts plugins
	$(BIN)/python -m pytest -q tests $(PLUGINS)

lint: install
	$(BIN)/ruff check rclicks tests benchmarks scripts plugins

format: install
	$(BIN)/ruff format rclicks tests benchmarks scripts plugins

bench: install
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/engine.py

clean:
	rm -rf $(VENV) runs .pytest_cache
