"""The Fine-tuning view in the real window: fine-tune the default model on the genre task, classify a line
with the tokens that mattered, plot a small transfer curve as its points come in, and compare sentences with
all-MiniLM-L6-v2."""

from __future__ import annotations

import numpy as np

from tests.gui.conftest import show


def test_fine_tune_classify_and_transfer(window, qtbot, tmp_path):
    ft = show(window, qtbot, "fine-tune")
    assert ft.header.source_text().startswith("default model")
    ft.val_size = 60
    ft.size.setValue(60)
    ft.steps.setValue(10)
    ft.start_finetune()
    qtbot.waitUntil(lambda: ft.settled and ft.finetuned is not None and ft.classified is not None, timeout=180_000)
    assert sorted(ft.finetuned.label_names) == ["comedy", "history", "tragedy"]
    assert 0.0 <= ft.finetuned.accuracy <= 1.0 and "held-out accuracy" in ft.status.text()
    c = ft.classified
    assert len(c.probs) == 3 and abs(sum(c.probs) - 1.0) < 1e-5 and len(c.importance) == len(c.tokens)
    assert len(ft.class_bars.tokens) == 3 and "leave one out" in ft.line_view.toPlainText()
    # the transfer curve: both kinds at both sizes, drawn as the points come in
    ft.sizes.setText("20, 40")
    ft.seeds.setValue(1)
    ft.steps.setValue(10)
    ft.start_compare()
    qtbot.waitUntil(lambda: ft.settled and ft.status.text().startswith("Pre-trained"), timeout=300_000)
    assert set(ft.points) == {(20, "pretrained"), (20, "scratch"), (40, "pretrained"), (40, "scratch")}
    xs, ys = ft.pre_line.getData()
    assert len(xs) == 2 and all(0.0 <= y <= 1.0 for y in ys)
    ticks = ft.curve.getAxis("bottom")._tickLevels  # the measured sizes label the log axis
    assert [label for _, label in ticks[0]] == ["20", "40"]
    # a bad size list is one line in the view
    ft.sizes.setText("a lot")
    ft.start_compare()
    assert "whole numbers" in ft.header.error_text
    # a user's TSV with one label only: one line, the fine-tuned classifier kept
    bad = tmp_path / "one-label.tsv"
    bad.write_text("a line\tx\nanother\tx\n", encoding="utf-8")
    ft.set_task_file(str(bad))
    before = ft.finetuned
    ft.start_finetune()
    qtbot.waitUntil(lambda: "label" in ft.header.error_text and ft.settled, timeout=30_000)
    assert ft.finetuned is before and "\n" not in ft.header.error_text


def test_sentence_similarity_with_minilm(window, qtbot):
    ft = show(window, qtbot, "fine-tune")
    ft.pages.setCurrentIndex(1)
    ft.nearest_limit = 300
    ft.sentences.setPlainText("The king is dead.\nThe queen is dead.\nLet us go hunting.")
    ft.compare_sentences()
    qtbot.waitUntil(lambda: ft.settled and ft.sim is not None and bool(ft.nearest), timeout=180_000)
    sentences, sim = ft.sim
    assert sim.shape == (3, 3) and np.allclose(np.diag(sim), 1.0, atol=1e-5)
    assert sim[0, 1] > sim[0, 2]  # the two deaths are nearer each other than either is to the hunt
    assert ft.nearest_table.rowCount() == 12 and "The king is dead." in ft.nearest_label.text()
    # each cell shows its cosine; columns are numbered, rows numbered with the sentence's start
    assert [t.toPlainText() for t in ft.cell_labels][:2] == ["1.00", f"{sim[0, 1]:.2f}"]
    assert ft.matrix.bottom.tokens == ["1", "2", "3"] and ft.matrix.left.tokens[2].startswith("3 Let us")
    # hovering above the diagonal gives the value: a similarity matrix has no masked (future) cells
    from PySide6.QtCore import QPointF

    class Hover:
        def isExit(self):  # noqa: N802
            return False

        def pos(self):
            return QPointF(2.5, 0.5)

    ft.matrix._hover(Hover())
    assert ft.matrix.hover_text.startswith("sentence 0") and ft.matrix.hover_text.endswith(f"{sim[0, 2]:.4f}")
    ft.sentences.setPlainText("just one")
    ft.compare_sentences()
    assert "at least two sentences" in ft.header.error_text
