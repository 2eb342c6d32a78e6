# rclicks: `make demo` and `make test` work on a fresh clone (they create .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.rclicks-installed
PLUGINS := plugins/rclicks-plugin-template plugins/rclicks-sam plugins/rclicks-sam2 \
           plugins/rclicks-hqsam plugins/rclicks-mobilesam plugins/rclicks-isegm
PINNED  := requirements/sam2.txt plugins/rclicks-hqsam/requirements.txt \
           plugins/rclicks-mobilesam/requirements.txt
# The SAM plugins need torch. torch 2.14.1 + torchvision 0.29.1 lie on this machine kind's disk
# for Python 3.11 (a CUDA build that runs on the CPU); no torchvision works beside the CPU-only
# torch 2.13.0 that is also there.
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: install sysdeps demo test lint format clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py $(foreach p,$(PLUGINS),$(p)/pyproject.toml) $(PINNED)
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q segment-anything==1.0 "hydra-core>=1.3.2" "iopath>=0.1.10" tqdm
	SAM2_BUILD_CUDA=0 $(BIN)/python -m pip install -q --no-build-isolation --no-deps \
		--require-hashes -r requirements/sam2.txt
	# HQ-SAM and MobileSAM code (they import timm without declaring it), hash-pinned
	$(BIN)/python -m pip install -q --no-deps --require-hashes \
		-r plugins/rclicks-hqsam/requirements.txt -r plugins/rclicks-mobilesam/requirements.txt
	$(BIN)/python -m pip install -q -e ".[test,ray]" $(foreach p,$(PLUGINS),-e $(p))
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/rclicks eval

# Chromium (browser tests) and PostgreSQL (leaderboard tests), from Debian when missing
sysdeps:
	bash scripts/system-deps.sh

test: install sysdeps
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
