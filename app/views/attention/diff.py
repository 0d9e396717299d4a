"""The Attention view's diff mode: two models (or two checkpoints of one run) on the same text, the selected
head of each side by side and their difference B - A on a blue - white - red scale centred at zero, with the
per-token loss of both (engine.interp.compare)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from app.views.attention.plots import AttentionDetail, TokenAxis
from app.widgets.names import named
from app.widgets.text import shown_token
from engine.interp.compare import Comparison
from engine.tiles import masked

A_COLOR, B_COLOR = "#4c72b0", "#dd8452"


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
        self.comparison: Comparison | None = None
        grid = QGridLayout()
        grid.addWidget(self.a, 0, 0)
        grid.addWidget(self.b, 0, 1)
        grid.addWidget(self.delta, 1, 0)
        grid.addWidget(self.loss, 1, 1)
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
        self.axis.tokens = []

    def show_comparison(self, cmp: Comparison, layer: int, head: int, causal: bool) -> None:
        """Head (layer, head) of both models and B - A (when they have the same layers and heads)."""
        self.comparison = cmp
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
        x = np.arange(len(tokens) - 1) + 0.5
        self.loss_a.setData(x, cmp.per_token[0])
        self.loss_b.setData(x, cmp.per_token[1])
        self.axis.tokens = [shown_token(t) for t in tokens[1:]]
        self.axis.picture = None
        self.axis.update()
        top = max(float(cmp.per_token[0].max(initial=1.0)), float(cmp.per_token[1].max(initial=1.0)))
        self.loss.getPlotItem().vb.setRange(QRectF(0, 0, max(1, min(len(x), 60)), top * 1.08), padding=0)
        la, lb = float(cmp.per_token[0].mean()), float(cmp.per_token[1].mean())
        self.loss.setTitle(f"-log p per token: <span style='color:{A_COLOR}'>A {la:.3f}</span>, "
                           f"<span style='color:{B_COLOR}'>B {lb:.3f}</span> on average", size="9pt")
        cut = f" (the text's first {cmp.truncated:,} tokens do not fit and are left out)" if cmp.truncated else ""
        self.note.setText(f"A = {a_name} (the model in use), B = {b_name}: the selected head of each and B \u2212 A "
                          f"(red: B attends more, blue: less). Click a head in the grid to compare another.{cut}")
