"""The real window, driven offscreen: attention grid, typing, training, pause/stop, save/load, errors."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from app import bridge
from engine.checkpoint import load_checkpoint
from engine.training import PROBE_TEXT
from tests.conftest import SMALL_TEXT


def test_launch_shows_the_default_models_attention_grid(window):
    view = window.attention
    L, H = 4, 4
    assert view.grid.shape == (L, H)
    T = len(PROBE_TEXT) + 1  # char tokens plus <|bos|>
    img = view.grid.tile_image(3, 2)
    assert img.shape == (T, T) and img.dtype == np.uint8
    assert img[0, 1] == 255 and img[1, 0] != 255  # the masked upper triangle has its own colour index
    assert view.current.attention.shape == (L, H, T, T)
    assert "L=4 layers, H=4 heads" in window.side.text() and "embedded default model" in window.side.text()


def test_typing_a_sentence_updates_the_grid(window, qtbot):
    view = window.attention
    before = window.painted["attention"]
    view.text.clear()
    qtbot.keyClicks(view.text, "Hello world")
    qtbot.waitUntil(lambda: window.painted["attention"] > before and view.current.attention.shape[-1] == 12,
                    timeout=20_000)
    assert view.grid.tile_image(0, 0).shape == (12, 12)
    assert view.current.tokens[1:] == list("Hello world")


def test_click_a_panel_enlarges_it_and_hover_gives_the_weight(window, qtbot):
    view = window.attention
    view.select(2, 3)
    assert view.detail.title.startswith("layer 2, head 3")
    w = view.current.attention[2, 3]
    assert np.allclose(view.detail.values[np.tril_indices(w.shape[0])], w[np.tril_indices(w.shape[0])])
    # scores instead of weights
    view.values_combo.setCurrentIndex(1)
    assert "scores" in view.detail.title
    assert view.grid.tile_image(0, 0)[0, 1] == 255


def test_head_view_query_and_head_toggles(window, qtbot):
    view = window.attention
    view.mode_heads.setChecked(True)
    assert view.stack.currentIndex() == 1
    hv = view.head_view
    qtbot.waitUntil(lambda: hv.isVisible())
    T = view.current.attention.shape[-1]
    y = int(hv._row_y(3, T))
    qtbot.mouseClick(hv, Qt.MouseButton.LeftButton, pos=QPoint(hv.width() // 4, y))
    assert hv.query == 3
    view.head_boxes[1].setChecked(False)
    assert hv.heads_on == [True, False, True, True]
    assert not hv.grab().isNull()


def test_export_png_svg_npz(window, tmp_path):
    for name in ("grid.png", "grid.svg", "att.npz"):
        window.export(str(tmp_path / name))
        assert (tmp_path / name).stat().st_size > 500, name
    data = np.load(tmp_path / "att.npz")
    assert data["attention"].shape[:2] == (4, 4)
    assert "<svg" in (tmp_path / "grid.svg").read_text(encoding="utf-8")[:500]
    window.export(str(tmp_path / "x.bmpx"))
    assert "not supported" in window.last_error


def test_a_bad_corpus_file_shows_an_error_and_the_app_keeps_running(window, qtbot, tmp_path):
    bad = tmp_path / "image.txt"
    bad.write_bytes(b"\x89PNG\x00\x00\x01binary")
    window.ctx.set_corpus(str(bad))
    qtbot.waitUntil(lambda: "binary" in window.status_error.text(), timeout=10_000)
    assert window.ctx.corpus == "shakespeare"  # the corpus in use stays
    assert window.isVisible() and window.bridge.is_alive()
    # and the app still answers
    before = window.painted["attention"]
    window.attention.set_text("still alive")
    qtbot.waitUntil(lambda: window.painted["attention"] > before, timeout=10_000)


def test_a_corrupt_checkpoint_shows_an_error_and_keeps_the_model(window, qtbot, tmp_path, tiny_checkpoint):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_checkpoint, bad)
    (bad / "model.safetensors").write_bytes(b"garbage")
    window.ctx.open_model(str(bad))
    qtbot.waitUntil(lambda: "corrupt" in window.status_error.text(), timeout=10_000)
    assert window.ctx.model.source == "default" and window.ctx.model.facts["L"] == 4  # the model stays
    assert "default" in window.picker.currentText().lower()


def test_train_watch_pause_stop_save_and_reload(window, qtbot, tmp_path):
    corpus = tmp_path / "small.txt"
    corpus.write_text(SMALL_TEXT, encoding="utf-8")
    out = tmp_path / "run"
    tv = window.training
    tv.corpus.setText(str(corpus))
    tv.d.setValue(32)
    tv.H.setValue(2)
    tv.L.setValue(2)
    tv.context.setValue(32)
    tv.batch.setValue(8)
    tv.steps.setValue(100_000)
    tv.snapshot_every.setValue(5)
    tv.autosave_every.setValue(0)
    tv.out.setText(str(out))
    qtbot.mouseClick(tv.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(tv.loss_y) >= 20, timeout=60_000)
    qtbot.waitUntil(lambda: len(window.attention.snapshots) >= 2, timeout=30_000)
    snap = window.attention.snapshots[-1]
    assert snap.attention.shape[:2] == (2, 2) and snap.step is not None
    assert window.attention.grid.shape == (2, 2)  # the view follows the live run
    assert window.attention.step_slider.isEnabled()
    # pause: no more loss points arrive
    qtbot.mouseClick(tv.pause_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tv.state.text().startswith("Paused at step"), timeout=10_000)
    qtbot.wait(300)
    n = len(tv.loss_y)
    qtbot.wait(500)
    assert len(tv.loss_y) == n
    # the side panel names the run's folder and the step reached, not the step it started at
    window.refresh_side()
    assert str(out) in window.side.text() and "paused" in window.side.text()
    assert f"step {int(tv.steps_x[-1]):,}" in window.side.text()
    assert window.ctx.model.source == "default"  # the views keep the default model while the run trains
    # scrub back to the first snapshot
    window.attention.follow_box.setChecked(False)
    window.attention.step_slider.setValue(0)
    window.attention._scrub(0)
    assert window.attention.current.step == window.attention.snapshots[0].step
    qtbot.mouseClick(tv.pause_btn, Qt.MouseButton.LeftButton)  # resume
    qtbot.waitUntil(lambda: len(tv.loss_y) > n + 5, timeout=30_000)
    qtbot.mouseClick(tv.stop_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=60_000)
    assert tv.state.text().startswith("Stopped at step") and "Checkpoint:" in tv.summary.text()
    saved = load_checkpoint(out)
    assert saved.step >= n + 5 and saved.model.cfg.d == 32
    # save as, then reopen it
    copy = tmp_path / "copy"
    tv.save_to(str(copy))
    qtbot.waitUntil(lambda: (copy / "config.json").is_file(), timeout=20_000)
    window.ctx.open_model(str(copy))
    qtbot.waitUntil(lambda: str(copy) in window.side.text(), timeout=20_000)
    assert window.ctx.model.facts["d"] == 32
    assert window.ctx.recent()[0] == str(copy.resolve())  # remembered for File > Open recent
    window._fill_recent()
    assert any(str(copy) in a.text() for a in window.recent_menu.actions())


def test_closing_during_training_asks_then_stops_and_keeps_the_checkpoint(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from app.window import MainWindow

    win = MainWindow(None, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    corpus = tmp_path / "c.txt"
    corpus.write_text(SMALL_TEXT, encoding="utf-8")
    tv = win.training
    tv.corpus.setText(str(corpus))
    for spin, v in ((tv.d, 16), (tv.H, 2), (tv.L, 1), (tv.context, 16), (tv.batch, 4), (tv.steps, 100_000),
                    (tv.autosave_every, 0), (tv.snapshot_every, 0)):
        spin.setValue(v)
    out = tmp_path / "closing"
    tv.out.setText(str(out))
    qtbot.mouseClick(tv.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(tv.loss_y) >= 5, timeout=60_000)

    def answer_yes():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            box.button(QMessageBox.StandardButton.Yes).click()
        else:
            QTimer.singleShot(50, answer_yes)

    QTimer.singleShot(50, answer_yes)
    win.close()
    assert not win.isVisible()
    assert not win.bridge.is_alive()
    assert load_checkpoint(out).step >= 5


def test_tokens_view_switches_tokenizer_and_lists_the_vocabulary(window, qtbot):
    window.tabs.setCurrentIndex(2)
    tv = window.tokens
    qtbot.waitUntil(lambda: window.painted["tokens"] > 0, timeout=20_000)
    text = tv.input.toPlainText()
    assert tv.summary.text().startswith(f"{len(text)} tokens")  # the default model is char-level
    assert tv.model.rowCount() == 76 and tv.model.vocab.counts.sum() > 1_000_000
    # the table sorts by the count as a number (shown with thousands separators), the largest first
    shown = [tv.proxy.index(r, 2).data(Qt.ItemDataRole.UserRole) for r in range(tv.proxy.rowCount())]
    assert shown == sorted(shown, reverse=True) and shown[0] == tv.model.vocab.counts.max()
    assert tv.proxy.index(0, 2).data() == f"{shown[0]:,}"
    before = window.painted["tokens"]
    tv.kind.setCurrentIndex(tv.kind.findData("word"))
    qtbot.waitUntil(lambda: window.painted["tokens"] > before, timeout=60_000)
    n_words = int(tv.summary.text().split()[0])
    assert n_words < len(text) // 2 and "(word" in tv.summary.text()
    assert tv.text.token_at_char(0) == 0
    assert tv.text.split.tokens[1] == " be"


def test_next_token_view_bars_and_surprisal(window, qtbot):
    window.tabs.setCurrentIndex(3)
    nt = window.next_token
    qtbot.waitUntil(lambda: window.painted["next-token"] > 0, timeout=20_000)
    assert len(nt.top_tokens) == 21 and nt.top_tokens[-1] == "(rest)"
    assert "log p(x_1..x_35)" in nt.summary.text()
    before = window.painted["next-token"]
    nt.position = 4
    nt.refresh()
    qtbot.waitUntil(lambda: window.painted["next-token"] > before, timeout=20_000)
    assert "before token 4" in nt.summary.text()


def test_screenshot_command_line(tmp_path):
    out = tmp_path / "shot.png"
    r = subprocess.run([sys.executable, "-m", "app", "--screenshot", str(out), "--view", "next-token",
                        "--text", "To be or"], capture_output=True, text=True, timeout=180,
                       env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 10_000
    assert Path(out).read_bytes()[:4] == b"\x89PNG"


def test_hovering_the_enlarged_head_shows_the_exact_weight(window, qtbot):
    view = window.attention
    view.select(0, 1)
    det = view.detail
    qtbot.waitUntil(lambda: det.isVisible() and det.values is not None)
    qtbot.wait(100)  # let the layout settle before mapping image coordinates to the screen
    scene_pt = det.image.mapToScene(QPointF(2.5, 5.5))  # key 2, query 5 in image coordinates
    widget_pt = det.mapFromScene(scene_pt)
    qtbot.mouseMove(det.viewport(), QPoint(2, 2))  # enter the view away from the image first
    qtbot.wait(50)
    qtbot.mouseMove(det.viewport(), widget_pt)
    qtbot.waitUntil(lambda: det.hover_text.startswith("query 5"), timeout=5_000)
    expected = view.current.attention[0, 1, 5, 2]
    assert det.hover_text.endswith(f"{expected:.4f}")
    assert "key 2" in det.hover_text


def test_long_text_keeps_the_last_context_tokens(window, qtbot):
    view = window.attention
    before = window.painted["attention"]
    view.set_text("To be, or not to be, " * 20)
    qtbot.waitUntil(lambda: window.painted["attention"] > before and view.current.truncated > 0, timeout=10_000)
    assert view.current.attention.shape[-1] == 256 and view.current.truncated == 420 - 255
    assert "earlier tokens not shown" in view.tokens_label.text()


def test_qt_bindings_do_not_leak_none_references(window, qtbot):
    """PySide6 6.12.0 decremented None's refcount each time a Python model returned None (then crashed)."""
    window.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: window.painted["tokens"] > 0, timeout=20_000)
    table = window.tokens.table
    collector = bridge._gui_gc.timer
    collector.stop()  # a collection in the loop would free objects that refer to None
    try:
        before = sys.getrefcount(None)
        for _ in range(50):
            table.viewport().repaint()
            QApplication.processEvents()
        assert sys.getrefcount(None) > before - 50
    finally:
        collector.start()


def test_garbage_is_collected_in_the_gui_thread_only(window):
    """Cyclic GC in the engine thread would destroy QObjects there (deadlock or crash)."""
    assert not gc.isenabled() and bridge._gui_gc.timer.isActive()
