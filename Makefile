# dlgrade: `make demo` grades a sample class; `make test` runs the linter and the tests.
# Both set everything up from nothing: a virtual environment, pinned torch, the project.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: setup demo test lint bench bench-grading bench-similarity release clean

setup: $(STAMP)

# torch is pinned and installed first: a bare `torch` requirement would pull GBs of CUDA.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,dask,release]'
	$(BIN)/python -m grader.boundary.oprecord
	touch $(STAMP)

demo: $(STAMP)
	rm -rf demo-out
	$(BIN)/dlgrade grade backprop examples/backprop-class --out demo-out --secret demo

# Every assignment present: verified, then dist/<name>/ (student folder with its notebook),
# dist/<name>.zip and dist/<name>-autograder.zip (Gradescope; holds the secret). A failed
# verification writes nothing. SECRET=... reuses a secret (same hidden inputs as before).
ASSIGNMENTS = $(patsubst assignments/%/assignment.yaml,%,$(wildcard assignments/*/assignment.yaml))

release: $(STAMP)
	$(BIN)/dlgrade release $(ASSIGNMENTS) --out dist $(if $(SECRET),--secret $(SECRET))

lint: $(STAMP)
	$(BIN)/ruff check .

# Two test processes (CI's 2 cores; tests/conftest.py makes them take turns timing). The
# native op recorder is built and the bytecode compiled first: the adversarial suite
# checks that nothing under grader/, reference/ or assignments/ changes while it grades,
# and the other process would otherwise write them there meanwhile.
TEST_WORKERS ?= 2

test: lint
	$(BIN)/python -m grader.boundary.oprecord
	$(BIN)/python -m compileall -q grader reference assignments
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)
	$(BIN)/dlgrade bench

# Grading speed: every assignment, correct classes at --jobs 1 and 2, dlgrade check,
# import torch and otter run, in one run. Figures: docs/benchmarks/grading-*.md.
bench-grading: $(STAMP)
	$(BIN)/python -m grader.classroom.bench_grading

# `dlgrade similarity`: disguised copies among each assignment's solutions, and the time
# for 300 generated submissions. Figures: docs/benchmarks/similarity.md.
bench-similarity: $(STAMP)
	$(BIN)/python -m grader.classroom.bench_similarity

clean:
	rm -rf $(VENV) demo-out dist bench-out
