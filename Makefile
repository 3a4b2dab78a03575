# setbench — every target creates or reuses the project virtual env (.venv) from a clean checkout.
#
#   make bench            run the default profile (results/table1.md)
#   make test             run the tests
#   make verify           scientific checks + estimator comparison (results/verification.md)
#   make memory-plot      draw Figure 1 (memory vs fixed-point iterations)
#   make bench PROFILE=paper AMAZON=path/to/registries.csv
#   make data NAME=celeba   download, verify and extract a dataset (NAME=all: every one; none: report)
#   make perf             time the fast mean-field step against the reference (results/perf.md)
#   make regress          CI regression check of every algorithm's JC against results/regression_baseline.json
#   make regress-update   rewrite that baseline (with its provenance) from a fresh run
#
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setbench-installed
PROFILE ?= default
# The Amazon apparel registry file, when it lies where this project's shared data lives.
AMAZON ?= $(wildcard ../shared/data/amazon/1_100_100_100_apparel_regs.csv)
BENCH_ARGS ?=
NAME ?=
DATA_DIR ?= data
FIGURE_ARGS ?=
PYTEST_ARGS ?=
PERF_ARGS ?=
REGRESS_ARGS ?=

.PHONY: install bench test verify data perf memory-plot regress regress-update lock clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "setbench needs Python 3.11 (found %s); set PYTHON=/path/to/python3.11" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

bench: $(STAMP)
	$(BIN)/python -m setbench.benchmarks run --profile $(PROFILE) $(if $(AMAZON),--amazon "$(AMAZON)") $(BENCH_ARGS)

data: $(STAMP)
	$(BIN)/python -m setbench.benchmarks data --data-dir "$(DATA_DIR)" $(NAME)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

verify: $(STAMP)
	$(BIN)/python -m setbench.benchmarks verify

perf: $(STAMP)
	$(BIN)/python -m setbench.benchmarks.perf $(if $(AMAZON),--amazon "$(AMAZON)") $(PERF_ARGS)

# Figure 1: memory vs fixed-point iterations -> results/figure1.{png,pdf,csv}
memory-plot: $(STAMP)
	$(BIN)/python -m setbench.benchmarks.figure1 $(if $(AMAZON),--amazon "$(AMAZON)") $(FIGURE_ARGS)

regress: $(STAMP)
	$(BIN)/python -m setbench.benchmarks regress $(REGRESS_ARGS)

regress-update: $(STAMP)
	$(BIN)/python -m setbench.benchmarks regress --update $(REGRESS_ARGS)

# Re-pin requirements.lock from the current env (after editing pyproject.toml's pins).
lock: $(STAMP)
	@{ sed -n '1,3p' requirements.lock; $(BIN)/python -m pip freeze --all --exclude-editable \
	   | grep -v -e '^pip==' -e '^wheel==' | sed 's/^torch==\([0-9.]*\)+cpu/torch==\1/'; } > requirements.lock.new
	@mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache
