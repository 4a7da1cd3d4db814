# Set-up and checks. Every target creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint fuzz format clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The pinned CPU build first, so that no other package pulls a CUDA build of torch.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/elman train --train builtin:train --dev builtin:dev --output demo-model --preset demo --overwrite
	$(BIN)/elman tag demo-model --format pretty src/elman/resources/sample.txt

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

test: lint
	$(BIN)/pytest -q

fuzz: $(STAMP)
	ELMAN_FUZZ_EXAMPLES=10000 $(BIN)/pytest -q tests/fuzz

clean:
	rm -rf $(VENV) demo-model build dist .pytest_cache .mypy_cache .ruff_cache
