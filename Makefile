PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export GOGOOKU_HOME ?= $(CURDIR)/gogooku_home

.PHONY: install demo test test-fast bench studies lint clean chromium postgresql image

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/gogooku demo

# The report test drives headless Chromium; install Debian's package when it is missing.
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

# The PostgreSQL tests (hpo, the prediction store, two service replicas) start a throw-away
# server from Debian's package (binaries in /usr/lib/postgresql/NN/bin); install it when missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }

# Test modules run on PYTEST_WORKERS processes (pytest-xdist; a module and its fixtures stay on
# one worker). PYTEST_WORKERS=0 runs them in this process. A crashed worker ends the run with
# the test it crashed in named: pytest-xdist 3.8's loadscope scheduler hangs at the end of a run
# in which it replaced a crashed worker (pytest-xdist issue 1378).
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadscope --max-worker-restart 0

test: $(STAMP) chromium postgresql
	$(BIN)/python -m pytest -q $(XDIST)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow"

# Performance benchmarks (bench/bench_*.py) at their default sizes.
bench: $(STAMP)
	bash scripts/bench.sh

# Model-quality and configuration studies (studies/) on the 300-stock quality market: long-running
# (hours on 2 cores); see docs/training.md.
studies: $(STAMP)
	bash scripts/studies.sh

# The container image (deploy/Dockerfile; docs/operations.md, "Deploy"). IMAGE_ARGS: extra
# `docker build` arguments, e.g. --build-arg TORCH_VARIANT=cu128 (with PIP_EXTRA_ARGS).
IMAGE ?= gogooku:latest
image:
	docker build -f deploy/Dockerfile -t $(IMAGE) $(IMAGE_ARGS) .

lint: $(STAMP)
	$(BIN)/ruff check src tests bench studies
	$(BIN)/ruff format --check src tests bench studies

clean:
	rm -rf $(VENV) build .pytest_cache
