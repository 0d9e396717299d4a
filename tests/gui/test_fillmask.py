"""The Fill-the-blank view on the shipped masked model (default-mlm) and its next-token twin (default-bpe), and
the Training view's masked objective: seed 001's two objectives, in the real window."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import QUrl

from tests.conftest import SMALL_TEXT
from tests.gui.conftest import show


def test_fill_the_blank_then_gpt_beside_bert(window, qtbot, tmp_path):
    view = show(window, qtbot, "fill-mask")
    # the default model predicts the next token: the view says why it cannot fill, one click from one that can
    assert view.notice.isVisible() and "next token" in view.notice.text() and not view.text.isEnabled()
    assert not view.split.isVisible()  # no empty charts
    view.use_btn.click()
    qtbot.waitUntil(lambda: window.ctx.model.key == "named:default-mlm", timeout=60_000)
    qtbot.waitUntil(lambda: view.settled and view.filled is not None, timeout=60_000)
    assert not view.notice.isVisible() and view.header.source_text().startswith("default masked model")
    top5 = [t.strip() for t, _ in view.filled.candidates[0][:5]]
    assert "be" in top5 and len(view.blank_charts) == 1
    c = view.comparison
    assert c is not None and c.true_token is None and c.causal.name == "default-bpe"
    assert c.tokens[c.position].strip() == top5[0]  # the blank, filled with the masked model's best guess
    # the causal picture is a triangle (the future masked), the masked model's a full square
    T = view.causal_att.values.shape[0]
    assert np.isnan(view.causal_att.values[np.triu_indices(T, 1)]).all()
    assert np.isfinite(view.masked_att.values).all()
    # a word of the sentence: both models judge its own token there
    word = next(i for i, t in enumerate(c.tokens) if t.strip() == "that")
    painted = view.painted
    view._token_clicked(QUrl(f"pos:{word}"))
    qtbot.waitUntil(lambda: view.painted > painted and view.settled, timeout=60_000)
    c = view.comparison
    assert c.position == word and c.true_token.strip() == "that"
    assert 0.0 < c.causal.p_true <= 1.0 and 0.0 < c.masked.p_true <= 1.0
    assert "that" in view.compare_label.text()
    # the head picker: one head of another layer
    view.layer.setValue(1)
    view.head.setCurrentIndex(2)
    assert "layer 1, head 1" in view.masked_att.title
    # two blanks at once
    painted = view.painted
    view.text.setText("[MASK] be, or not to [MASK], that is the question.")
    view.fill_btn.click()
    qtbot.waitUntil(lambda: view.painted > painted and view.settled, timeout=60_000)
    assert len(view.filled.positions) == 2 and len(view.blank_charts) == 2
    out = tmp_path / "blanks.json"
    view.export(str(out))
    data = json.loads(out.read_text())
    assert len(data["candidates"]) == 2 and data["gpt_vs_bert"]["causal"]["model"] == "default-bpe"
    # no blank: the comparison still works at any word; a sentence longer than the context is one line
    painted = view.painted
    view.text.setText("To be, or not to be, that is the question.")
    view.fill_btn.click()
    qtbot.waitUntil(lambda: view.painted > painted and view.settled, timeout=60_000)
    assert view.filled is None and "No [MASK]" in view.blanks_label.text() and view.comparison is not None
    view.text.setText("word " * 2000 + "[MASK]")
    view.fill_btn.click()
    qtbot.waitUntil(lambda: "context" in view.header.error_text, timeout=60_000)
    assert "\n" not in view.header.error_text
    # back on the default model: the notice again
    window.ctx.use_default()
    qtbot.waitUntil(lambda: view.notice.isVisible(), timeout=30_000)
    assert not view.split.isVisible()  # the last model's pictures do not stay


def test_training_a_masked_model_from_the_training_view(window, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    corpus = tmp_path / "small.txt"
    corpus.write_text(SMALL_TEXT * 3, encoding="utf-8")
    tv = window.training
    tv.objective.setCurrentIndex(tv.objective.findData("mlm"))
    assert tv.tokenizer.currentText() == "bpe"  # blanks are words or pieces of words, not letters
    tv.corpus.setText(str(corpus))
    for spin, value in ((tv.d, 16), (tv.H, 2), (tv.L, 2), (tv.context, 16), (tv.batch, 4), (tv.steps, 40),
                        (tv.autosave_every, 0), (tv.snapshot_every, 0), (tv.vocab, 256)):
        spin.setValue(value)
    tv.out.setText(str(tmp_path / "mlm-run"))
    assert tv.config().objective == "mlm"
    qtbot.mouseClick(tv.start_btn, Qt.MouseButton.LeftButton)
    run = window.ctx.run
    assert run is not None, tv.header.error_text
    qtbot.waitUntil(lambda: run.state == "finished", timeout=120_000)
    assert "held-out blanks filled right" in tv.accuracy.text()
    assert "masked-token accuracy" in tv.summary.text()
    tv.use_model()
    qtbot.waitUntil(lambda: window.ctx.model.facts.get("objective") == "mlm", timeout=30_000)
    view = window.views["fill-mask"]
    view.text.setText("To be or [MASK].")  # the tiny run's context is 16 tokens
    window.tabs.setCurrentIndex(window.view_index("fill-mask"))
    qtbot.waitUntil(lambda: view.filled is not None or bool(view.header.error_text), timeout=60_000)
    assert view.filled is not None, view.header.error_text
    assert not view.notice.isVisible() and len(view.filled.candidates[0]) == view.top.value()
