# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# OpenBLAS threads spin while idle unless told to sleep; see README "Threads".
export OPENBLAS_THREAD_TIMEOUT ?= 1

.PHONY: demo test venv venv-dev graphviz bench clean lint

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Installs the package with the CLI and data extras.
venv: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[cli,data]'

venv-dev: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	@# KenLM's Python module compiles C++; its agreement test skips where it cannot be built.
	@$(BIN)/python -c 'import kenlm' 2>/dev/null || $(BIN)/python -m pip install -q kenlm \
	  || echo "note: kenlm could not be installed; the KenLM agreement test will be skipped"

# Graphviz draws the explainer's graphs; without it only .dot files are written.
graphviz:
	@command -v dot >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -q graphviz >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q graphviz >/dev/null 2>&1)) \
	  || echo "note: could not install Graphviz; graphs will be written as .dot files only"; }

demo: venv graphviz
	$(BIN)/chainrule demo

test: venv-dev graphviz
	$(BIN)/python -m pytest -q

bench: venv-dev
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/bench_speed.py --json benchmarks/results.json

lint: venv-dev
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
