"""The Rollout view in the real window: rollout after each layer, a row clicked, that position's flow, a text
too long for the flow, another model, and the export."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from tests.gui.conftest import show


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def click_row(view, qtbot, row: int) -> None:
    m = view.rolled
    centre = m.plot.vb.mapViewToScene(QPointF(0.5, row + 0.5))
    qtbot.mouseClick(m.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, m.mapFromScene(centre))


def test_rollout_flow_and_a_clicked_row(window, qtbot, tmp_path, monkeypatch):
    view = show(window, qtbot, "rollout")
    qtbot.waitUntil(lambda: view.settled and view.flow_row is not None, timeout=60_000)
    r = view.result
    L, T = window.ctx.model.facts["L"], len(r.tokens)
    assert r.rollout.shape == (L, T, T) and np.allclose(r.rollout.sum(-1), 1.0)
    assert view.selected == T - 1 and view.flow_row.shape == (T,) and view.flow_row.max() <= 1.0 + 1e-9
    assert view.rolled.values.shape == (T, T) and np.allclose(np.nan_to_num(view.rolled.values[-1]), r.rollout[-1][-1],
                                                              atol=1e-6)
    # the bars: the last layer's attention, rollout and the flow scaled to sum 1, of the selected position
    np.testing.assert_allclose(view.roll_bars.opts["height"], r.rollout[-1][T - 1])
    assert abs(float(np.sum(view.flow_bars.opts["height"])) - 1.0) < 1e-9
    assert "Flow from position" in view.bars.plotItem.titleLabel.text
    # a row clicked: its sources and its own flow
    click_row(view, qtbot, 5)
    qtbot.waitUntil(lambda: view.settled and view.flow_of[-1] == 5 and view.flow_row is not None, timeout=30_000)
    assert view.selected == 5 and np.count_nonzero(view.flow_row) <= 6  # a decoder: nothing from the future
    assert "row 5 selected" in view.rolled.title
    # the slider: rollout after layer 0 is that layer's mixed matrix
    view.layer.setValue(0)
    np.testing.assert_allclose(np.nan_to_num(view.rolled.values), np.tril(r.mixed[0]), atol=1e-6)
    assert view.layer_label.text() == f"after layer 0 of {L - 1}"
    # exported: every layer's rollout and the selected position's flow
    out = tmp_path / "rollout.npz"
    view.export(str(out))
    with np.load(out) as z:
        assert z["rollout"].shape == (L, T, T) and int(z["position"]) == 5 and z["flow"].shape == (T,)
    # a text too long for the flow here (the default model allows 310 tokens, more than its context: a budget
    # of 40 stands in for SmolLM2's 158): rollout still, the flow refused in a line; the selection is reset
    import app.views.rollout.view as rollout_view

    monkeypatch.setattr(rollout_view, "VIEW_FLOW_BUDGET", L * 40**3)
    painted = view.painted
    view.text.setText("To be, or not to be, that is the question. " * 9)
    view.refresh()
    qtbot.waitUntil(lambda: view.painted > painted and view.settled, timeout=30_000)
    assert len(view.result.tokens) == 256 and view.selected == 255 and "first" in view.header.source_text()
    assert view.flow_row is None and "at most 40 tokens" in view.flow_note and not view.header.error_text
    # an empty text: said in the header, no stale picture
    view.text.setText("")
    view.refresh()
    assert view.result is None and "type a text" in view.header.source_text()
