"""The Vanishing gradients view in the real window: the picture at initialisation, a short live run of the
chosen architectures (the plot, accuracy and gates redrawn as snapshots stream in), the gates of another
sequence, Stop keeping the models, and errors in the view's header with the window still running."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import show

pytestmark = pytest.mark.usefixtures("one_thread")  # small models: a second torch thread only waits (5x slower)


def test_gradients_at_initialisation_then_a_live_run(window, qtbot):
    view = show(window, qtbot, "gradients")
    # opened on the picture at initialisation: four curves over the 60 distances, the RNN's vanishing
    snap = view.latest
    assert snap.step == 0 and set(snap.grad_norm) == {"rnn", "gru", "lstm", "transformer"}
    assert snap.grad_norm["rnn"][50] * 100 < snap.grad_norm["lstm"][50]
    xs, ys = view.lines["rnn"].getData()
    assert len(xs) == 60 and np.all(np.diff(ys[:55]) < 0)  # log10 of a geometric decay: falling all along
    assert "at initialisation" in view.header.source_text() and view.gates.gates
    assert view.start_btn.isEnabled() and not view.stop_btn.isEnabled()
    view.relative.setChecked(True)  # each curve over its own value at t = 0: the decay alone
    assert view.lines["lstm"].getData()[1][0] == 0.0 and "value at t = 0" in view.plot.getAxis("left").labelText
    view.relative.setChecked(False)
    assert np.allclose(view.lines["rnn"].getData()[1], np.log10(snap.grad_norm["rnn"]))

    view.arch_boxes["transformer"].setChecked(False)
    view.length.setValue(8)
    view.steps.setValue(40)
    view.every.setValue(10)
    before = view.painted
    qtbot.mouseClick(view.start_btn, Qt.MouseButton.LeftButton)
    assert view.training and not view.start_btn.isEnabled() and view.stop_btn.isEnabled()
    qtbot.waitUntil(lambda: view.painted > before and view.latest is not None and view.latest.step >= 0,
                    timeout=60_000)
    qtbot.waitUntil(lambda: not view.training and view.settled, timeout=120_000)
    run = view.trained
    assert [s.step for s in run.snapshots] == [0, 10, 20, 30, 40] and run.archs == ("rnn", "gru", "lstm")
    assert [h[0] for h in view.history["lstm"]] == [0, 10, 20, 30, 40]
    assert not view.lines["transformer"].isVisible() and view.init_lines["gru"].isVisible()
    xs, ys = view.acc_lines["gru"].getData()
    assert list(xs) == [0, 10, 20, 30, 40] and all(0 <= y <= 1 for y in ys)
    assert len(view.lines["lstm"].getData()[0]) == 8 and view.answer.value() == 7
    assert "Finished at step 40" in view.status.text() and "Accuracy: " in view.status.text()
    assert "trained, step 40 of 40" in view.header.source_text()
    table = view.table.text()
    assert all(name in table for name in ("plain RNN", "GRU", "LSTM")) and "transformer" not in table
    # the gates of the probe sequence, then of another one
    assert set(view.gates.gates) == {"gru", "lstm"} and view.gates.gates["lstm"].values["f"].shape == (8, 64)
    assert view.gates.lines[("gru", "z")].getData()[1].shape == (8,)
    view.gates_cell.setCurrentIndex(1)
    assert view.gates.shown_cell() == "gru" and not view.gates.maps[2][0].isVisible()
    first_tokens = view.gates.gates["gru"].tokens
    assert view.new_seq_btn.isEnabled()
    view.new_seq_btn.click()
    qtbot.waitUntil(lambda: view.settled and view.gates.gates["gru"].tokens != first_tokens, timeout=30_000)
    assert str(view.gates.gates["gru"].tokens[0]) in view.gates_caption.text()


def test_stop_keeps_the_models_and_errors_stay_in_the_view(window, qtbot, monkeypatch):
    view = show(window, qtbot, "gradients")
    for arch in ("gru", "lstm", "transformer"):
        view.arch_boxes[arch].setChecked(False)
    view.length.setValue(6)
    view.steps.setValue(1_000_000)
    view.every.setValue(5)
    view.start_btn.click()
    qtbot.waitUntil(lambda: view.latest is not None and view.latest.step >= 10, timeout=60_000)
    view.stop_btn.click()
    qtbot.waitUntil(lambda: not view.training and view.settled, timeout=60_000)
    assert view.trained.stopped and "Stopped at step" in view.status.text()
    assert "stopped, step" in view.header.source_text() and view.start_btn.isEnabled()
    assert not view.new_seq_btn.isEnabled()  # a plain RNN has no gates to read
    assert not view.gates.gates and "GRU or an LSTM" in view.gates_caption.text()
    # nothing chosen: one line in the header
    view.arch_boxes["rnn"].setChecked(False)
    view.start_btn.click()
    assert "at least one architecture" in view.header.error_text and not view.training
    # an engine refusal (not enough memory) shows in the header; the window goes on
    view.arch_boxes["lstm"].setChecked(True)
    monkeypatch.setattr("engine.validate.memory_budget", lambda: 1000)
    view.start_btn.click()
    qtbot.waitUntil(lambda: "memory" in view.header.error_text and not view.training, timeout=30_000)
    assert view.start_btn.isEnabled() and "\n" not in view.header.error_text and window.isVisible()
    monkeypatch.undo()
    view.steps.setValue(10)
    view.start_btn.click()
    qtbot.waitUntil(lambda: not view.training and view.settled and view.trained is not None, timeout=60_000)
    assert not view.header.error_text and view.trained.archs == ("lstm",)
