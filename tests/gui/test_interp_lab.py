"""Issue 15's lab in the real window on the default model: switch heads off in the Ablation view, read the
logit lens, and diff two checkpoints in the Attention view."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt

from tests.gui.conftest import show


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """The app's tests run torch on one thread (the machine's other core draws)."""
    yield


def click_tile(grid, qtbot, layer: int, head: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    r, c = grid.layers.index(layer), grid.heads.index(head)
    centre = grid.plot.vb.mapViewToScene(QPointF(c * grid.pitch + 0.5, r * grid.pitch + 0.5))
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, modifier, grid.mapFromScene(centre))


def test_click_heads_off_and_back_on(window, qtbot):
    view = show(window, qtbot, "ablation")
    qtbot.waitUntil(lambda: view.effect is not None and view.settled, timeout=30_000)
    clean = view.result
    assert clean is not None and view.off == [] and "every head on" in view.header.source_text()
    np.testing.assert_allclose(clean.per_token_before, clean.per_token_after)
    L, H = window.ctx.model.facts["L"], window.ctx.model.facts["H"]
    assert view.grid.shape == (L, H)
    # every head's effect: L x H finite loss changes, each the loss of that head alone off
    assert view.effect.effect.shape == (L, H) and np.isfinite(view.effect.effect).all()
    assert view.effect_map.values.shape == (L, H) and np.abs(view.effect.effect).max() > 1e-4
    # a click switches the most useful head off: the loss goes up, the next-token bars change
    layer, head = map(int, np.unravel_index(np.argmax(view.effect.effect), (L, H)))
    painted = view.painted
    click_tile(view.grid, qtbot, layer, head)
    qtbot.waitUntil(lambda: view.painted > painted and view.settled, timeout=10_000)
    r = view.result
    assert view.off == [(layer, head)] and r.sites == [f"{layer}.{head}"]
    assert r.loss_after == pytest.approx(r.loss_before + view.effect.effect[layer, head], abs=1e-4)
    assert r.loss_after > r.loss_before and float(r.kl[-1]) > 0
    assert view.after_bars.probs != view.before_bars.probs
    assert view.before_bars.probs == [p for _, p in clean.top_before]
    assert not np.allclose(view.strip.after, view.strip.before) and len(view.strip.tokens) == len(r.tokens) - 1
    assert f"heads off: {layer}.{head}" in view.header.source_text() and view.grid.off == {(layer, head)}
    # shift-click: a second head off too; mean ablation
    other = (layer + 1) % L, head
    painted = view.painted
    click_tile(view.grid, qtbot, *other, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: view.painted > painted and view.settled, timeout=10_000)
    assert view.off == [(layer, head), other] and len(view.result.sites) == 2
    painted = view.painted
    view.mode.setCurrentIndex(view.mode.findData("mean"))
    qtbot.waitUntil(lambda: view.painted > painted and view.settled and view.effect is not None, timeout=10_000)
    assert view.result.mode == "mean" and view.effect.mode == "mean" and "(mean)" in view.header.source_text()
    # reset: every head on, the clean picture again
    painted = view.painted
    view.reset_btn.click()
    qtbot.waitUntil(lambda: view.painted > painted and view.settled, timeout=10_000)
    assert view.off == [] and view.grid.off == set()
    assert view.result.loss_after == pytest.approx(clean.loss_before)
    assert view.after_bars.probs == pytest.approx(view.before_bars.probs)


def test_a_model_without_those_heads_switches_them_back_on(window, qtbot, tmp_path):
    from engine.checkpoint import load_checkpoint, save_checkpoint
    from engine.model import GPT, ModelConfig

    view = show(window, qtbot, "ablation")
    painted = view.painted
    view.set_off([(3, 3), (0, 1)])
    qtbot.waitUntil(lambda: view.painted > painted and view.settled, timeout=10_000)
    torch.manual_seed(0)
    tok = load_checkpoint(None).tokenizer
    small = tmp_path / "small"
    save_checkpoint(small, GPT(ModelConfig(vocab_size=tok.vocab_size, context=64, d=16, H=2, L=2)), tok,
                    extra={"step": 0, "corpus": "shakespeare"})
    window.ctx.open_model(str(small))
    qtbot.waitUntil(lambda: window.ctx.model.facts["L"] == 2, timeout=30_000)
    # nothing of the old model is left on the screen (the tiny model's own pictures may already be there)
    assert view.result is None or view.result.sites == ["0.1"]
    assert view.effect is None or view.effect.effect.shape == (2, 2)
    qtbot.waitUntil(lambda: view.settled and view.result is not None and view.effect is not None, timeout=30_000)
    assert view.off == [(0, 1)] and "3.3 switched back on" in view.off_label.text()
    assert view.grid.shape == (2, 2) and view.effect.effect.shape == (2, 2)
    assert view.result.sites == ["0.1"] and "small" in view.header.source_text()
    view.text.setText("")
    view.refresh()
    assert "type a text" in view.header.source_text()


def test_logit_lens_table_ends_in_the_next_token(window, qtbot):
    text = "To be, or not to be: that is the qu"
    nt = window.next_token
    nt.prompt.setText(text)
    show(window, qtbot, "next-token")
    qtbot.waitUntil(lambda: nt.settled and bool(nt.top_tokens), timeout=10_000)
    window.views["logit-lens"].text.setText(text)
    view = show(window, qtbot, "logit-lens")
    lens = view.lens
    L, T = window.ctx.model.facts["L"], len(lens.tokens)
    assert (view.table.rowCount(), view.table.columnCount()) == (L + 1, T) == (L + 1, len(text) + 1)
    assert [view.table.verticalHeaderItem(r).text() for r in (0, L)] == ["embeddings", f"layer {L - 1}"]
    # the bottom row is the model's own output: its last cell is the Next-token view's first choice
    assert view.table.item(L, T - 1).text() == nt.top_tokens[0]
    assert "top 5" in view.table.item(L, T - 1).toolTip() and "actual" in view.table.item(L, 3).toolTip()
    p = lens.top_probs[L, T - 1, 0]
    assert f"{p:.4f}" in view.table.item(L, T - 1).toolTip()
    # a long text: its last positions, and the caption says what is cut
    painted = view.painted
    view.text.setText("To be, or not to be. " * 12)
    view.refresh()
    qtbot.waitUntil(lambda: view.painted > painted and view.settled, timeout=10_000)
    from app.views.lens.view import MAX_COLUMNS

    assert view.table.columnCount() == MAX_COLUMNS and view.first == len(view.lens.tokens) - MAX_COLUMNS > 0
    assert f"the first {view.first}" in view.caption.text()
    # an encoder without an unembedding: the engine's message in the header, no table of the last model
    from engine.models.registry import NAMED

    if NAMED["minilm"].path() is None:
        return
    window.ctx.open_model("minilm")
    qtbot.waitUntil(lambda: "unembedding" in view.header.error_text, timeout=30_000)
    assert view.table.rowCount() == 0 and view.header.source_text().startswith("all-MiniLM")
    window.ctx.use_default()
    qtbot.waitUntil(lambda: view.settled and view.table.rowCount() == L + 1, timeout=30_000)
    assert not view.header.error_text


def test_attention_diff_of_two_models(window, qtbot):
    view = window.attention
    painted = view.painted
    view.diff_model.choose("default")
    view.diff_box.setChecked(True)
    qtbot.waitUntil(lambda: view.painted > painted and view.settled and view.diff_panel.comparison is not None,
                    timeout=30_000)
    cmp = view.diff_panel.comparison
    assert view.right.currentWidget() is view.diff_panel
    # the default model against itself: every difference is zero, the losses the same
    assert np.abs(cmp.attention_diff).max() == 0.0 and np.abs(cmp.loss_diff).max() == 0.0
    delta = view.diff_panel.delta.values
    assert delta.shape == (len(cmp.tokens),) * 2 and np.nanmax(np.abs(delta)) == 0.0
    # every head's score, B - A: zero everywhere; another score is one choice away
    L, H = view.current.shape[:2]
    scores_map = view.diff_panel.scores_map
    assert scores_map.values.shape == (L, H) and np.abs(scores_map.values).max() == 0.0
    assert "induction score" in scores_map.title
    view.diff_panel.score.setCurrentIndex(view.diff_panel.score.findData("previous_token"))
    assert "previous-token score" in scores_map.title
    view.select(2, 3)
    assert view.diff_panel.a.title == "A: layer 2, head 3" and view.diff_panel.delta.diverging
    np.testing.assert_allclose(view.diff_panel.a.values[np.tril_indices(len(cmp.tokens))],
                               view.current.attention[2, 3][np.tril_indices(len(cmp.tokens))], atol=1e-6)
    # another tokenizer: refused in the header, no picture of the last comparison, the window goes on
    view.diff_model.choose("named", "default-bpe")
    qtbot.waitUntil(lambda: "different tokenizers" in view.header.error_text and view.settled, timeout=30_000)
    assert view.diff_panel.comparison is None and "different tokenizers" in view.diff_panel.note.text()
    assert window.isVisible() and view.current is not None
    # back to one model: the error goes with the diff
    view.diff_box.setChecked(False)
    assert not view.header.error_text and view.right.currentWidget() is view.detail
