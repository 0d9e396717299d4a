"""A new user's journey in one window, the way the real app is built (app.main.build): train a tiny run, stop
it, look at Attention, Next token and Decoding on it, go back to the default model, and play tic-tac-toe to
the end from both seats with the mouse resting on the board. Any Qt warning or critical message and any
exception raised in a slot fails the test."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import Qt, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from app.views.arena.tictactoe_board import cell_rect
from tests.gui.conftest import start_tiny_run

# the offscreen platform plugin (tests only) says this of every top-level window
PLATFORM_NOISE = ("This plugin does not support propagateSizeHints()",)


@pytest.fixture
def qt_messages():
    caught: list[str] = []

    def handler(mode, _context, message):  # noqa: ANN001
        if mode in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg) \
                and message not in PLATFORM_NOISE:
            caught.append(f"{mode.name}: {message}")

    previous = qInstallMessageHandler(handler)
    yield caught
    qInstallMessageHandler(previous)


@pytest.fixture
def slot_exceptions(monkeypatch):
    caught: list[str] = []
    original = sys.excepthook

    def hook(kind, value, tb):  # noqa: ANN001
        caught.append(f"{kind.__name__}: {value}")
        original(kind, value, tb)

    monkeypatch.setattr(sys, "excepthook", hook)
    return caught


def show(win, qtbot, key: str):
    view = win.views[key]
    win.tabs.setCurrentIndex(win.view_index(key))
    qtbot.waitUntil(lambda: view.painted > 0 and view.settled, timeout=60_000)
    return view


def play_to_the_end(win, qtbot, seat: int) -> str:
    """Play tic-tac-toe from ``seat`` (0: X, first; 1: O, second) by clicking, leaving the mouse on the board."""
    play = win.views["arena"].play
    play.side.setCurrentIndex(seat)  # starts a new game
    board = play.pane.board
    for _ in range(9):
        qtbot.waitUntil(lambda: play.state.is_terminal() or (not play.thinking and board.interactive), timeout=30_000)
        if play.state.is_terminal():
            break
        cell = min(play.state.legal_actions())
        at = board.widget_point(cell_rect(cell).center())
        qtbot.mouseMove(board, at)
        qtbot.mouseClick(board, Qt.MouseButton.LeftButton, pos=at)
        qtbot.mouseMove(board, at)  # the mouse stays over the cell it played
        board.grab()  # paint now, as the screen would
    qtbot.waitUntil(lambda: play.state.is_terminal(), timeout=30_000)
    board.grab()
    return play.pane.status.text()


def test_a_new_users_journey(qtbot, tmp_path, monkeypatch, qt_messages, slot_exceptions):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    from app.main import build

    _app, win = build([])
    qtbot.addWidget(win)
    win.resize(1400, 900)
    att = show(win, qtbot, "attention")
    assert att.header.source_text().startswith("default model, step 2,000")

    # train a tiny run from the Training view, and stop it
    win.tabs.setCurrentIndex(win.view_index("training"))
    run = start_tiny_run(win, qtbot, tmp_path / "runs" / "journey", snapshot_every=5)
    qtbot.waitUntil(lambda: run.step >= 30, timeout=60_000)
    win.training.stop_btn.click()
    qtbot.waitUntil(lambda: not run.active, timeout=60_000)
    assert run.state == "finished" and run.summary["stopped"]

    # Attention first shows the run's last probe snapshot, and says so
    att = show(win, qtbot, "attention")
    assert "journey" in att.header.source_text() and att.current.step is not None

    # pick the run's model in the picker: every view computes with it and names it
    picker = win.picker
    index = next(i for i in range(picker.count()) if picker.itemData(i)[0] == "run")
    picker.setCurrentIndex(index)
    picker.activated.emit(index)
    assert win.ctx.model.path and win.ctx.model.path.endswith("journey")
    att = show(win, qtbot, "attention")
    assert att.current.step is None and "journey" in att.header.source_text()
    for key in ("next-token", "decoding"):
        view = show(win, qtbot, key)
        assert "journey" in view.header.source_text() and f"step {run.step:,}" in view.header.source_text(), key

    # back to the default model, one click
    win.default_btn.click()
    for key in ("attention", "next-token", "decoding"):
        view = show(win, qtbot, key)
        qtbot.waitUntil(lambda v=view: v.header.source_text().startswith("default model"), timeout=60_000)

    # tic-tac-toe to the end from both seats, against a quick opponent
    arena = show(win, qtbot, "arena")
    arena.play.opponent.set_spec("random")
    qtbot.waitUntil(lambda: "random" in arena.play.agent_desc, timeout=20_000)
    first = play_to_the_end(win, qtbot, 0)
    second = play_to_the_end(win, qtbot, 1)
    assert all(any(w in end for w in ("You win", "Draw", "wins")) for end in (first, second))
    assert sum(arena.play.tally) == 2

    QApplication.processEvents()
    win.close()
    assert win.engine_stopped
    assert not qt_messages, qt_messages
    assert not slot_exceptions, slot_exceptions
