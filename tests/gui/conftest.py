"""Fixtures for driving the real window offscreen; no test may leave the engine thread running."""

from __future__ import annotations

import threading

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
        win.bridge.stop()
        win.bridge.shutdown()


@pytest.fixture(autouse=True)
def no_engine_thread_left_behind():
    yield
    alive = [t for t in threading.enumerate() if t.name == "engine" and t.is_alive()]
    for t in alive:
        t.join(timeout=10)
    assert not [t for t in alive if t.is_alive()], "a test left the engine thread running"
