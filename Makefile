# Two commands do all the set-up: `make run` launches the app, `make test` runs the tests.
# Each creates .venv on first use and installs the project with torch pinned (constraints.txt).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/transformer-explorer

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check engine app tests bench

bench: $(STAMP)
	$(PY) -m bench.train_throughput
	$(PY) -m bench.train_quality

clean:
	rm -rf $(VENV)
