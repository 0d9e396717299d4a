"""Fixtures for driving the real window offscreen; no test may leave the engine thread running."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture
def window(qtbot, tmp_path):
    from app.window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(None, settings)
    qtbot.addWidget(win)
    win.resize(1300, 850)
    win.show()
    qtbot.waitUntil(lambda: win.painted["attention"] > 0 and win.attention.current.tokens[1:3] == ["T", "o"],
                    timeout=30_000)
    yield win
    if win.bridge.is_alive():
        win.bridge.shutdown(timeout=30)


def fill_analogy(panel, a: str, b: str, c: str) -> None:
    """Type three words into the analogy fields."""
    for field, word in zip((panel.a, panel.b, panel.c), (a, b, c), strict=True):
        field.setText(word)


@pytest.fixture(autouse=True)
def no_engine_thread_left_behind():
    yield
    alive = [t for t in threading.enumerate() if t.name == "engine" and t.is_alive()]
    for t in alive:
        t.join(timeout=10)
    assert not [t for t in alive if t.is_alive()], "a test left the engine thread running"


def start_tiny_run(window, qtbot, out, steps: int = 100_000, snapshot_every: int = 0):
    """Start a tiny training run (2 layers, d = 16) on the small text from the Training view; the Run."""
    from PySide6.QtCore import Qt

    from tests.conftest import SMALL_TEXT

    corpus = Path(window.settings.fileName()).parent / "small-corpus.txt"
    corpus.parent.mkdir(parents=True, exist_ok=True)  # QSettings makes its folder only when it first syncs
    corpus.write_text(SMALL_TEXT, encoding="utf-8")
    tv = window.training
    tv.corpus.setText(str(corpus))
    for spin, value in ((tv.d, 16), (tv.H, 2), (tv.L, 2), (tv.context, 16), (tv.batch, 4), (tv.steps, steps),
                        (tv.autosave_every, 0), (tv.snapshot_every, snapshot_every)):
        spin.setValue(value)
    if out is not None:
        tv.out.setText(str(out))
    qtbot.mouseClick(tv.start_btn, Qt.MouseButton.LeftButton)
    run = window.ctx.run
    assert run is not None and run.active, tv.header.error_text
    return run


def show(window, qtbot, key: str, timeout: int = 120_000):
    """Switch to a view, as a user clicks its tab, and wait until it has drawn and nothing of its own is pending."""
    view = window.views[key]
    window.tabs.setCurrentIndex(window.view_index(key))
    qtbot.waitUntil(lambda: view.settled and view.painted > 0, timeout=timeout)
    return view
