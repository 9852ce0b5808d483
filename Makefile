# The one way to set up, run and test TensorJudge.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test setup system lint typecheck bench clean sandbox-image

## Set everything up and start TensorJudge on its embedded default (SQLite, embedded broker,
## process sandbox, the bundled problems) at http://127.0.0.1:8000
run: setup
	$(BIN)/tensorjudge serve

## Set everything up and run the whole test suite. As root it also starts a Docker engine and
## builds the sandbox image offline, so the docker backend meets the red team too (best effort:
## without them the tests marked docker skip; TJ_DOCKER=0 leaves Docker alone).
test: setup
	@bash scripts/docker-engine.sh up || echo "docker: no engine or image; tests marked docker will skip"
	$(BIN)/python -m pytest -q; rc=$$?; bash scripts/docker-engine.sh down; exit $$rc

setup: system $(STAMP)

system:
	@bash scripts/install-system.sh

# torch first, pinned: it takes the CPU wheel already on this machine's disk; an unpinned
# torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check core api worker sandbox cli tests bench
	$(BIN)/mypy core sandbox cli

## The docker backend's sandbox image without a registry (CPU torch; production GPU workers
## build sandbox/Dockerfile).
sandbox-image:
	bash scripts/build-sandbox-image-offline.sh --force

bench: setup
	$(BIN)/python bench/bench_grade.py

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
