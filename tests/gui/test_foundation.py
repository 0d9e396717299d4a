"""The view contract on the real window: every view knows its model, its input and its state (issue 10).

One test per defect a new user met: the Attention view after a stopped run, a run silently replacing the
default model, an error that outlived its view, slow actions without a busy state, a finished run that said
"idle", the tic-tac-toe board blanking at the end of a game, a second Start overwriting the first run, a
long agent path pushing the Arena's panel off the window; and the names every control carries.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QScrollBar,
    QTabBar,
    QTabWidget,
    QWidget,
)

from app.views.arena.tictactoe_board import cell_rect
from engine.checkpoint import load_checkpoint
from engine.rl.tictactoe import TicTacToeState
from tests.gui.conftest import fill_analogy, start_tiny_run


def open_view(window, qtbot, key: str):
    view = window.views[key]
    window.tabs.setCurrentIndex(window.view_index(key))
    qtbot.waitUntil(lambda: view.painted > 0 or key == "training", timeout=120_000)
    return view


def test_attention_after_a_stopped_run_says_what_it_shows(window, qtbot, tmp_path):
    att = window.attention
    att.set_text("Hello world")
    qtbot.waitUntil(lambda: att.current is not None and att.current.text == "Hello world", timeout=20_000)
    run = start_tiny_run(window, qtbot, tmp_path / "run", snapshot_every=5)
    qtbot.waitUntil(lambda: len(att.snapshots) >= 3, timeout=60_000)
    window.training.stop_btn.click()
    qtbot.waitUntil(lambda: not run.active, timeout=60_000)
    # following the run: the picture, the text box, the slider and the header all speak of the run's probe
    assert att.follow_box.isChecked() and att.current.step is not None
    source = att.header.source_text()
    assert str(tmp_path / "run") in source and "stopped" in source and f"step {att.current.step:,}" in source
    assert "probe sentence" in source and att.text.text() == att.current.text
    assert att.step_label.text().startswith(f"step {att.snapshots[-1].step:,}")
    assert "no training snapshots" not in att.step_label.text()
    # scores of a snapshot are scores, not weights
    weights = att.grid.tile_image(0, 0).copy()
    att.values_combo.setCurrentIndex(1)
    assert "scores" in att.detail.title and not np.array_equal(att.grid.tile_image(0, 0), weights)
    att.values_combo.setCurrentIndex(0)
    # back to the user's own text, on the model in use (the default: the run did not replace it)
    att.follow_box.setChecked(False)
    qtbot.waitUntil(lambda: att.current.step is None and att.current.text == "Hello world", timeout=20_000)
    assert att.text.text() == "Hello world" and att.header.source_text().startswith("default model, step 2,000")


def test_a_run_never_replaces_the_model_until_the_user_picks_it(window, qtbot, tmp_path):
    run = start_tiny_run(window, qtbot, tmp_path / "run", steps=30)
    qtbot.waitUntil(lambda: not run.active, timeout=60_000)
    assert window.ctx.model.source == "default"
    dec = open_view(window, qtbot, "decoding")
    qtbot.waitUntil(lambda: dec.settled, timeout=30_000)
    assert dec.header.source_text().startswith("default model")
    # "Use this model": every view now computes with the run's model, and says so
    tv = window.training
    assert tv.use_btn.isVisibleTo(tv) and tv.use_btn.isEnabled()
    tv.use_btn.click()
    assert window.ctx.model.path == str((tmp_path / "run").resolve()) and window.ctx.model.step == 30
    window.tabs.setCurrentIndex(window.view_index("decoding"))
    qtbot.waitUntil(lambda: dec.settled and str(tmp_path / "run") in dec.header.source_text(), timeout=30_000)
    assert "step 30" in dec.header.source_text() and "run" in window.picker.currentText().lower()
    # the default model is one click away
    window.default_btn.click()
    qtbot.waitUntil(lambda: dec.settled and dec.header.source_text().startswith("default model"), timeout=30_000)
    assert window.ctx.model.source == "default" and "default" in window.picker.currentText().lower()


def test_an_error_belongs_to_its_view_and_goes_with_its_next_success(window, qtbot):
    emb = open_view(window, qtbot, "embeddings")
    # the analogy fields are empty, with an example as placeholder (typing never appends to old text)
    assert [w.text() for w in (emb.analogy.a, emb.analogy.b, emb.analogy.c)] == ["", "", ""]
    assert all(w.placeholderText() for w in (emb.analogy.a, emb.analogy.b, emb.analogy.c))
    fill_analogy(emb.analogy, "king", "man", "woman")  # words a char model does not have
    emb.analogy.solve.click()
    qtbot.waitUntil(lambda: "'king' is not in the vocabulary" in emb.header.error_text, timeout=10_000)
    assert emb.header.message.isVisibleTo(emb) and not window.status_error.text()
    # a success in the same view clears it
    fill_analogy(emb.analogy, "", "", "")  # the placeholder's example
    emb.analogy.solve.click()
    qtbot.waitUntil(lambda: emb.analogy.answers.count() > 0, timeout=10_000)
    assert not emb.header.error_text and not emb.header.message.isVisibleTo(emb)
    # and another view never shows it
    fill_analogy(emb.analogy, "king", "man", "woman")
    emb.analogy.solve.click()
    qtbot.waitUntil(lambda: bool(emb.header.error_text), timeout=10_000)
    arena = open_view(window, qtbot, "arena")
    assert not arena.header.error_text and not window.status_error.text() and not window.last_error


def test_slow_actions_are_busy_and_cancellable(window, qtbot):
    dec = open_view(window, qtbot, "decoding")
    qtbot.waitUntil(lambda: dec.settled, timeout=30_000)
    before = dec.state
    dec.k.setValue(48)
    dec.max_new.setValue(400)
    dec.eos.setText("")
    dec.run_btn.click()
    h = dec.header
    qtbot.waitUntil(lambda: h.busy_bar.isVisible() and h.cancel_btn.isVisible(), timeout=5_000)
    assert "beam search, k = 48" in h.busy_label.text()
    h.cancel_btn.click()
    qtbot.waitUntil(lambda: not h.busy and not dec.busy, timeout=30_000)
    assert dec.state is before and not h.busy_bar.isVisible() and not h.error_text  # the old tree stays


def test_a_finished_run_says_how_it_ended(window, qtbot, tmp_path):
    run = start_tiny_run(window, qtbot, tmp_path / "run", steps=25)
    tv = window.training
    qtbot.waitUntil(lambda: not run.active, timeout=60_000)
    text = tv.summary.text()
    assert "Finished" in text and "25 steps" in text and "training loss" in text and "validation loss" in text
    assert str(tmp_path / "run") in text and re.search(r"in \d+:\d\d", text)
    assert tv.state.text().startswith("Finished at step 25") and tv.use_btn.isVisibleTo(tv)
    assert "finished at step 25" in tv.header.source_text()


def test_tictactoe_board_survives_the_end_of_a_game_under_the_mouse(window, qtbot):
    arena = open_view(window, qtbot, "arena")
    play = arena.play
    play.reveal_ms = 0
    play.opponent.set_spec("random")
    qtbot.waitUntil(lambda: play.agent_desc.startswith("random") or "random" in play.agent_desc, timeout=10_000)
    s = TicTacToeState()
    for a in (0, 3, 1, 4):  # X on 1 and 2, O on 4 and 5: X wins at cell 3
        s.apply_action(a)
    play.set_position(s)
    board = play.pane.board
    qtbot.waitUntil(lambda: board.interactive, timeout=5_000)
    at = board.widget_point(cell_rect(2).center())
    qtbot.mouseMove(board, at)
    qtbot.waitUntil(lambda: board.hover == 2, timeout=2_000)
    qtbot.mouseClick(board, Qt.MouseButton.LeftButton, pos=at)  # the winning move, mouse resting on it
    qtbot.mouseMove(board, at)
    assert play.state.is_terminal() and board.hover is None
    image = board.grab().toImage()  # paints the finished board (it raised and went blank before)
    mark = image.pixelColor(board.widget_point(cell_rect(2).center() + QPointF(40, 40)))
    assert mark.blue() > mark.red()  # X's blue stroke is there
    assert play.pane.status.text().startswith("You win")


def test_second_start_uses_a_new_folder_and_reuse_asks(window, qtbot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tv = window.training
    tv.out.setText("runs/run-1")
    run = start_tiny_run(window, qtbot, None, steps=12)
    qtbot.waitUntil(lambda: not run.active, timeout=60_000)
    first = load_checkpoint(tmp_path / "runs" / "run-1")
    assert first.step == 12 and (tmp_path / tv.out.text()).resolve() == tmp_path / "runs" / "run-2"
    run = start_tiny_run(window, qtbot, None, steps=5)
    qtbot.waitUntil(lambda: not run.active, timeout=60_000)
    assert load_checkpoint(tmp_path / "runs" / "run-1").step == 12  # untouched
    assert load_checkpoint(tmp_path / "runs" / "run-2").step == 5
    # a folder that holds a run: the user is asked, and "New folder" keeps the old run
    tv.out.setText(str(tmp_path / "runs" / "run-1"))

    def answer(button: str) -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.objectName() == "training.reuse-question":
            box.findChild(QAbstractButton, f"training.reuse-{button}").click()
        else:
            QTimer.singleShot(50, lambda: answer(button))

    QTimer.singleShot(50, lambda: answer("new"))
    tv.start()
    run = window.ctx.run
    qtbot.waitUntil(lambda: not run.active, timeout=60_000)
    assert (tmp_path / run.folder).resolve() == tmp_path / "runs" / "run-3"
    assert load_checkpoint(tmp_path / "runs" / "run-1").step == 12


def test_a_long_agent_path_does_not_widen_the_window(window, qtbot, tmp_path):
    arena = open_view(window, qtbot, "arena")
    folder = tmp_path / ("a-very-long-folder-name-for-a-trained-agent-" * 3) / "tictactoe-q"
    folder.mkdir(parents=True)
    shutil.copy(load_agent_file(), folder / "agent.json")
    width = window.width()
    arena.play_against("tictactoe", str(folder / "agent.json"))
    qtbot.waitUntil(lambda: arena.play.agent_desc != "", timeout=10_000)
    QApplication.processEvents()
    assert window.width() == width and "tictactoe-q/agent.json" in arena.play.score.text()
    assert len(arena.play.score.text()) < 80
    assert arena.play.score.geometry().right() <= arena.play.width()


def load_agent_file():
    from engine.rl.registry import ASSETS

    return ASSETS / "tictactoe.json"


CONTROLS = (QAbstractButton, QComboBox, QLineEdit, QPlainTextEdit, QAbstractSpinBox, QAbstractSlider,
            QAbstractItemView, QTabWidget)


def controls_of(root: QWidget) -> list[QWidget]:
    """The controls a user works with, leaving out the parts Qt builds inside other controls."""
    inside = (QComboBox, QAbstractSpinBox, QAbstractItemView, QTabBar)
    out = []
    for w in root.findChildren(QWidget):
        if not isinstance(w, CONTROLS):
            continue
        parent, internal = w.parentWidget(), False
        while parent is not None and parent is not root:
            if isinstance(parent, inside):
                internal = True
                break
            parent = parent.parentWidget()
        if internal or isinstance(w, QScrollBar) or w.objectName().startswith("qt_"):
            continue  # Qt's own parts: tab scrollers, scroll bars, viewports
        out.append(w)
    return out


def test_every_control_has_a_stable_name_and_an_accessible_name(window, qtbot):
    for key in window.views:
        open_view(window, qtbot, key)
    controls = controls_of(window)
    assert len(controls) > 120
    unnamed = [f"{type(w).__name__} {w.objectName()!r} {getattr(w, 'text', lambda: '')()!r}" for w in controls
               if not re.fullmatch(r"[a-z][a-z-]*\.[a-z0-9][a-z0-9.-]*", w.objectName()) or not w.accessibleName()]
    assert not unnamed, unnamed
    for name in ("model.picker", "attention.text", "attention.source", "training.steps", "training.start",
                 "training.stop", "arena.game"):
        assert window.findChild(QWidget, name) is not None, name
    picker = window.findChild(QComboBox, "model.picker")
    assert any("default" in picker.itemText(i).lower() for i in range(picker.count()))
    names = [w.objectName() for w in controls]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [n for n in names if f"`{n}`" not in doc]
    assert not missing, f"docs/architecture.md lacks {missing} (python -m packaging.control_names --write)"


def held_widgets(obj: object, depth: int = 2) -> list[QWidget]:
    """QWidgets held in the attributes of ``obj`` and of the widgets it holds (panels in views)."""
    found = []
    for value in vars(obj).values():
        if isinstance(value, QWidget):
            found.append(value)
            if depth > 1:
                found += held_widgets(value, depth - 1)
    return found


def test_every_widget_a_view_holds_is_placed_in_the_window(window, qtbot):
    """A control made but never put in a layout is invisible (the skip-gram corpus field was)."""
    for key, view in window.views.items():
        open_view(window, qtbot, key)
        orphans = [f"{type(w).__name__} {w.objectName()!r}" for w in held_widgets(view)
                   if QWidget.window(w) is not window]
        assert not orphans, (key, orphans)


def test_build_returns_the_app_and_window_without_running_the_loop(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the settings of this window go to a throw-away home
    from app.main import build

    app, win = build(["--view", "tokens", "--text", "abc"])
    qtbot.addWidget(win)
    try:
        assert app is QApplication.instance() and win.isVisible()
        assert win.tabs.currentWidget() is win.tokens and win.tokens.input.toPlainText() == "abc"
        qtbot.waitUntil(lambda: win.tokens.painted > 0 and win.tokens.settled, timeout=30_000)
        assert win.tokens.summary.text().startswith("3 tokens")
    finally:
        win.close()


def test_fresh_machine_display_check():
    from app.display import check_qt_platform, install_command, missing_libraries

    ldd = ("\tlibxcb-cursor.so.0 => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f)\n"
           "\tlibxcb-icccm.so.4 => not found\n\tlibxcb-cursor.so.0 => not found\n")
    assert missing_libraries(ldd) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    assert install_command(["libxcb-cursor.so.0", "libxcb-keysyms.so.1"]) == \
        "sudo apt-get install -y libxcb-cursor0 libxcb-keysyms1"
    assert check_qt_platform({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert "DISPLAY" in check_qt_platform({"QT_QPA_PLATFORM": "xcb"})
    # the real command: one line and exit 2 instead of Qt's abort
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-m", "app"], capture_output=True, text=True, timeout=120,
                       env={**env, "QT_QPA_PLATFORM": "xcb"})
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "DISPLAY" in r.stderr
