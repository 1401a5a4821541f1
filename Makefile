# Two commands that work on a fresh machine with only Python 3.11 and make: `make run`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all

.PHONY: run test test-quick bench lint doctor upgrade-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: install, then the whole workflow on the built-in demo (config/config.yaml), and its report
run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report results/report.html
	@echo "Report of the run: results/report.html (open it in a browser)"

## test: install, then the full test suite
test: $(STAMP)
	$(BIN)/python -m pytest

## test-quick: install, then the tests that start no Snakemake run (conftest fails one that does)
test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

## bench: speed and memory ratios, measured in one run (see benchmarks/)
bench: $(STAMP)
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

## lint: snakemake --lint and snakefmt --check
lint: $(STAMP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules/

## doctor: install, then check this machine (Python, torch, GPUs, decoders, pretrained files, profile)
doctor: $(STAMP)
	$(BIN)/rvc-pipeline doctor

## upgrade-check: results built by commit AGAINST (default HEAD, or HEAD~1 on a clean tree) must plan no job here (docs/upgrades.md)
upgrade-check: $(STAMP)
	$(BIN)/python tools/upgrade_check.py --cores $(CORES) $(if $(AGAINST),--against $(AGAINST))

clean:
	rm -rf results .snakemake
