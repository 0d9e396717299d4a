"""The Attention view's diff mode: two models (or two checkpoints of one run, or two probe snapshots of a
training run) on the same text, the selected head of each side by side and their difference B - A on a
blue - white - red scale centred at zero, the per-token loss of both (engine.interp.compare; a run's
snapshots keep no loss), and every head's score difference B - A (previous-token, first-token,
duplicate-token, induction: engine.interp.heads) as an L x H map whose cells select a head."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from app.views.attention.plots import AttentionDetail, TokenAxis
from app.widgets.head_map import EffectMap
from app.widgets.names import named
from app.widgets.text import shown_token
from engine.interp.compare import Comparison
from engine.interp.heads import SCORES
from engine.tiles import masked

A_COLOR, B_COLOR = "#4c72b0", "#dd8452"
SCORE_NAMES = {"previous_token": "previous-token", "first_token": "first-token (sink)",
               "duplicate_token": "duplicate-token", "induction": "induction"}


class DiffPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.note = named(QLabel(), "attention.diff-note", "What the diff compares")
        self.note.setWordWrap(True)
        self.a = named(AttentionDetail(), "attention.diff-a", "The selected head of model A")
        self.b = named(AttentionDetail(), "attention.diff-b", "The selected head of model B")
        self.delta = named(AttentionDetail(), "attention.diff-delta", "B minus A")
        self.axis = TokenAxis("bottom")
        self.loss = named(pg.PlotWidget(background="w", axisItems={"bottom": self.axis}), "attention.diff-loss",
                          "Per-token loss of both models")
        self.loss.setLabel("left", "-log p (nats)")
        self.loss.getAxis("left").enableAutoSIPrefix(False)
        self.loss.setMouseEnabled(x=True, y=False)
        self.loss.hideButtons()
        self.loss_a = self.loss.plot([], [], pen=pg.mkPen(A_COLOR, width=2), symbol="o", symbolSize=5,
                                     symbolBrush=A_COLOR, name="A")
        self.loss_b = self.loss.plot([], [], pen=pg.mkPen(B_COLOR, width=2), symbol="o", symbolSize=5,
                                     symbolBrush=B_COLOR, name="B")
        self.score = named(QComboBox(), "attention.diff-score", "Which head score to compare")
        for k in SCORES:
            self.score.addItem(SCORE_NAMES[k], k)
        self.score.setCurrentIndex(SCORES.index("induction"))
        self.score.currentIndexChanged.connect(lambda _: self.draw_scores())
        self.scores_map = named(EffectMap(), "attention.diff-scores", "Every head's score, B minus A: click a head")
        self.comparison: Comparison | None = None
        self.selected = (0, 0)
        scores_box = QWidget()
        sl = QVBoxLayout(scores_box)
        sl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("head score"))
        row.addWidget(self.score, 1)
        sl.addLayout(row)
        sl.addWidget(self.scores_map, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.loss)
        right.addWidget(scores_box)
        grid = QGridLayout()
        grid.addWidget(self.a, 0, 0)
        grid.addWidget(self.b, 0, 1)
        grid.addWidget(self.delta, 1, 0)
        grid.addWidget(right, 1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.note)
        lay.addLayout(grid, 1)

    def clear(self, message: str) -> None:
        self.comparison = None
        self.note.setText(message)
        for d in (self.a, self.b, self.delta):
            d.values = None
            d.image.clear()
            d.title = ""
            d.plot.setTitle("")
        self.loss_a.setData([], [])
        self.loss_b.setData([], [])
        self.loss.setTitle("")
        self.axis.tokens = []
        self.scores_map.clear_effect("")

    def show_comparison(self, cmp: Comparison, layer: int, head: int, causal: bool, note: str = "") -> None:
        """Head (layer, head) of both models and B - A (when they have the same layers and heads); ``note``
        says what A and B are when they are not two models (a run's snapshots)."""
        self.comparison = cmp
        self.selected = (layer, head)
        a_name, b_name = cmp.names
        tokens = cmp.tokens
        mats = []
        for side, (detail, att) in enumerate(((self.a, cmp.attention[0]), (self.b, cmp.attention[1]))):
            L, H = att.shape[:2]
            if layer < L and head < H:
                m = att[layer, head]
                mats.append(m)
                detail.show_matrix(masked(m) if causal else m, tokens, 0.0, 1.0,
                                   f"{'AB'[side]}: layer {layer}, head {head}", causal=causal)
            else:
                detail.image.clear()
                detail.plot.setTitle(f"{'AB'[side]} has no head {layer}.{head}")
        diff = cmp.attention_diff
        if diff is not None and len(mats) == 2:
            d = diff[layer, head]
            biggest = float(np.abs(d).max())
            span = biggest if biggest > 1e-6 else 1e-3  # identical: all white, on a small scale
            self.delta.show_matrix(masked(d) if causal else d, tokens, -span, span,
                                   f"B \u2212 A (max |\u0394| {biggest:.3f})",
                                   causal=causal, diverging=True)
        else:
            self.delta.image.clear()
            self.delta.values = None
            self.delta.plot.setTitle("no difference: the two models have different layers or heads")
        self._draw_loss(cmp, "a run's snapshots keep the attention, not the loss" if note else
                        "an encoder predicts no next token: no per-token loss")
        self.draw_scores()
        cut = f" (the text's first {cmp.truncated:,} tokens do not fit and are left out)" if cmp.truncated else ""
        what = note or f"A = {a_name} (the model in use), B = {b_name}"
        self.note.setText(f"{what}: the selected head of each and B \u2212 A (red: B attends more, blue: less). "
                          f"Click a head in the grid or the score map to compare another.{cut}")

    def _draw_loss(self, cmp: Comparison, why_none: str) -> None:
        if not cmp.has_loss:  # a run's probe snapshots, or an encoder
            self.loss_a.setData([], [])
            self.loss_b.setData([], [])
            self.axis.tokens = []
            self.loss.setTitle(f"per-token loss: {why_none}", size="9pt")
            return
        x = np.arange(len(cmp.tokens) - 1) + 0.5
        self.loss_a.setData(x, cmp.per_token[0])
        self.loss_b.setData(x, cmp.per_token[1])
        self.axis.tokens = [shown_token(t) for t in cmp.tokens[1:]]
        self.axis.picture = None
        self.axis.update()
        top = max(float(cmp.per_token[0].max(initial=1.0)), float(cmp.per_token[1].max(initial=1.0)))
        self.loss.getPlotItem().vb.setRange(QRectF(0, 0, max(1, min(len(x), 60)), top * 1.08), padding=0)
        la, lb = float(cmp.per_token[0].mean()), float(cmp.per_token[1].mean())
        self.loss.setTitle(f"-log p per token: <span style='color:{A_COLOR}'>A {la:.3f}</span>, "
                           f"<span style='color:{B_COLOR}'>B {lb:.3f}</span> on average", size="9pt")

    @property
    def score_name(self) -> str:
        return str(self.score.currentData())

    def draw_scores(self) -> None:
        """The chosen head score of every head, B - A; the selected head crossed."""
        cmp = self.comparison
        if cmp is None:
            return
        diff = cmp.scores_diff
        name = SCORE_NAMES[self.score_name]
        if diff is None:
            why = "the two have different layers or heads" if cmp.scores and not cmp.same_shape else \
                "not measured"
            self.scores_map.clear_effect(f"{name} score, B \u2212 A: {why}")
            return
        d = diff[self.score_name]
        b = cmp.scores[1].scores[self.score_name]
        layer, head = np.unravel_index(int(np.argmax(np.abs(d))), d.shape)
        self.scores_map.off = {self.selected}
        self.scores_map.show_effect(
            d, f"{name} score, B \u2212 A (largest: head {layer}.{head}, {float(d[layer, head]):+.2f}; "
               f"B's best {float(b.max()):.2f})", f"{name} score, B \u2212 A", "score B \u2212 A {:+.3f}")
