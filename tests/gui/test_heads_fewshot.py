"""Issue 15's last two views in the real window: head scores over training (an induction run trained in the
view, a saved ICL history with its marker) and the Few-shot panel on the default model."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import show


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def tiny_icl(steps: int = 40, every: int = 10):
    from engine.interp.icl import IclConfig

    return IclConfig(vocab=32, context=40, n_min=4, n_max=8, copies=4, d=32, H=2, L=2, batch=8, warmup=5,
                     steps=steps, every=every)


def line_xy(line) -> tuple[np.ndarray, np.ndarray]:
    """The data a line was given. Not getData(): with clip-to-view that is only what lies in the view range, which
    follows the data at the next paint (under load a check could see 30 of 40 loss points)."""
    return np.asarray(line.xData), np.asarray(line.yData)


def test_induction_run_trained_in_the_view(window, qtbot, tmp_path):
    view = show(window, qtbot, "head-scores")
    assert "no head-score history" in view.header.source_text() and view.lines == []
    assert view.train_btn.isEnabled() and not view.marker.isVisible()
    view.icl_config, view.icl_parent = tiny_icl(), str(tmp_path)
    qtbot.mouseClick(view.train_btn, Qt.MouseButton.LeftButton)
    assert view.icl_task is not None and view.stop_btn.isEnabled()
    qtbot.waitUntil(lambda: view.icl_task is None and view.settled and view.use_btn.isVisible(), timeout=60_000)
    h = view.history
    assert list(h.steps) == [1, 10, 20, 30, 40] and len(view.lines) == 2 * 2 == h.shape[0] * h.shape[1]
    for i, line in enumerate(view.lines):
        x, y = line_xy(line)
        assert list(x) == list(h.steps)
        np.testing.assert_allclose(y, h.scores["induction"][:, i // 2, i % 2])
    assert len(line_xy(view.loss_curve)[0]) == 40  # every step's loss
    assert len(line_xy(view.ratio_curve)[0]) == 5
    assert "induction run" in view.header.source_text() and "finished" in view.header.source_text()
    # another score: the same heads, other values
    view.score.setCurrentIndex(view.score.findData("previous_token"))
    np.testing.assert_allclose(line_xy(view.lines[0])[1], h.scores["previous_token"][:, 0, 0])
    # use the run's model: every view is on it, and this one reads the same history from its checkpoint
    painted = view.painted
    qtbot.mouseClick(view.use_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.painted > painted and view.settled and window.ctx.model.source == "checkpoint",
                    timeout=30_000)
    assert view.showing == "model" and view.history.source == "icl checkpoint"
    assert list(view.history.steps) == list(h.steps) and len(view.lines) == 4
    assert "icl-1" in view.header.source_text()


def test_marker_from_a_saved_history_and_a_model_switch(window, qtbot, tmp_path):
    import torch

    from engine.interp.icl import save_icl, train_icl

    torch.set_num_threads(1)
    result = [ev.result for ev in train_icl(tiny_icl(30, 10)) if ev.__class__.__name__ == "Finished"][0]
    result.history[2].scores["induction"][1][0] = 0.8  # the induction head "appears" at the third measurement
    folder = save_icl(result, tmp_path / "icl")
    view = show(window, qtbot, "head-scores")
    window.ctx.open_model(str(folder))
    qtbot.waitUntil(lambda: view.settled and not view.history.empty, timeout=30_000)
    assert view.history.target_step is None and view.marker_step == 20 == result.history[2].step
    assert view.marker.isVisible() and view.marker.value() == 20 and ">= 0.5" in view.caption.text()
    assert len(view.lines) == 4 and "step 20" in view.caption.text()
    # the default model: no lines nor marker of the last model stay
    window.ctx.use_default()
    qtbot.waitUntil(lambda: view.settled and window.ctx.model.source == "default", timeout=30_000)
    assert view.lines == [] and not view.marker.isVisible() and "no head-score history" in view.header.source_text()


def test_few_shot_prompt_answer_accuracy_and_errors(window, qtbot):
    from engine.checkpoint import ASSETS

    view = show(window, qtbot, "few-shot")
    v = view.current
    text = view.prompt.toPlainText()
    assert v is not None and v.k == 4 and text.count(" -> ") == 4 and text.rstrip().endswith("hot ->")
    assert "expected: <tt>cold</tt>" in view.answer.text() and ("\u2713" in view.answer.text()
                                                               or "\u2717" in view.answer.text())
    assert "k=4" in view.header.source_text() and "antonyms" in view.header.source_text()
    L = window.ctx.model.facts["L"]
    assert view.layer.count() == L + 1 and len(view.bars.opts["height"]) == 4
    view.layer.setCurrentIndex(2)
    np.testing.assert_allclose(view.bars.opts["height"], v.attention.from_answer[1])
    painted = view.painted
    view.k.setValue(2)
    qtbot.waitUntil(lambda: view.painted > painted and view.settled, timeout=10_000)
    assert view.prompt.toPlainText().count(" -> ") == 2 and len(view.bars.opts["height"]) == 2
    # accuracy against k over a few queries
    view.queries.setValue(2)
    painted = view.painted
    qtbot.mouseClick(view.measure_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.painted > painted and view.settled and len(view.accuracy) == 5, timeout=60_000)
    x, y = view.acc_curve.getData()
    assert list(x) == [0, 1, 2, 4, 8] and all(0 <= a <= 1 for a in y)
    # a masked model is no decoder: the header says so, no prompt of the last model stays
    window.ctx.open_model(str(ASSETS / "default-mlm"))
    qtbot.waitUntil(lambda: "few-shot prompting needs a decoder" in view.header.error_text and view.settled,
                    timeout=30_000)
    assert view.current is None and view.prompt.toPlainText() == "" and view.acc_curve.getData()[0] is None
    assert window.isVisible()
    window.ctx.use_default()
    qtbot.waitUntil(lambda: view.settled and view.current is not None, timeout=30_000)
    assert not view.header.error_text


def test_scrubbing_a_runs_timeline_moves_the_attention_snapshot(window, qtbot, tmp_path):
    """The run's timeline: the cursor in Head scores reads every head's score at a step and puts the Attention
    view on the run's snapshot of that step."""
    from tests.gui.conftest import start_tiny_run

    att, view = window.attention, window.views["head-scores"]
    run = start_tiny_run(window, qtbot, tmp_path / "run", snapshot_every=5)
    qtbot.waitUntil(lambda: len(att.snapshots) >= 4, timeout=120_000)
    window.training.stop_btn.click()
    qtbot.waitUntil(lambda: not run.active, timeout=60_000)
    assert window.ctx.use_run_model()
    show(window, qtbot, "head-scores")
    qtbot.waitUntil(lambda: len(view.history.steps) >= 4, timeout=60_000)
    assert view.of_the_run() and view.cursor.isVisible()
    steps = [s.step for s in att.snapshots]
    target = int(view.history.steps[1])
    view.scrub(target + 1)  # snaps to the nearest measured step
    assert view.cursor_step == target and f"step {target:,}" in view.cursor_text.text()
    assert view.loss_cursor.value() == target  # the loss curve's twin line follows
    nearest = min(steps, key=lambda s: abs(s - target))
    assert att.current is not None and att.current.step == nearest and att.follow_box.isChecked()
    assert "Attention view shows" in view.cursor_text.text()
    # the diff while following the run: A the pinned snapshot (the first), B the one on the slider, with the
    # head scores of both; scrubbing moves B, "pin as A" moves A
    att.diff_box.setChecked(True)
    first, shown = att.snapshots[0], att.current
    cmp = att.diff_panel.comparison
    assert cmp.names == [f"step {first.step:,}", f"step {shown.step:,}"] and not att.pin_btn.isHidden()
    np.testing.assert_allclose(cmp.attention_diff, shown.attention - first.attention)
    assert "pinned" in att.diff_panel.note.text() and "not the loss" in att.diff_panel.loss.plotItem.titleLabel.text
    L, H = shown.shape[:2]
    assert att.diff_panel.scores_map.values.shape == (L, H)
    np.testing.assert_allclose(att.diff_panel.scores_map.values,
                               cmp.scores[1].scores["induction"] - cmp.scores[0].scores["induction"])
    att.pin_btn.click()
    assert att.anchor_step == shown.step and att.diff_panel.comparison.names[0] == f"step {shown.step:,}"
    att.step_slider.setValue(len(att.snapshots) - 1)
    last = att.snapshots[-1]
    assert att.diff_panel.comparison.names == [f"step {shown.step:,}", f"step {last.step:,}"]
    # a cell of the score map selects that head in the grid and the diff
    att.diff_panel.scores_map.headClicked.emit(L - 1, H - 1, None)
    assert att.selected == (L - 1, H - 1) and att.diff_panel.a.title.startswith(f"A: layer {L - 1}, head {H - 1}")
    # no longer following: the diff is of two models again (the run's model and the default one: their
    # tokenizers differ, which the header says; no snapshot picture stays)
    att.follow_box.setChecked(False)
    qtbot.waitUntil(lambda: att.settled and "different tokenizers" in att.header.error_text, timeout=60_000)
    assert att.diff_panel.comparison is None and att.pin_btn.isHidden()
    att.diff_box.setChecked(False)
    assert not att.header.error_text
