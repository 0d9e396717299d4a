"""What the Ablation view draws besides the head grid and every head's effect (app.widgets.head_map.EffectMap:
loss with head (l, h) alone switched off minus the clean loss, red where the head helps):

- LossStrip: -log p(x_{t+1}) of every predicted token, clean (grey) beside with the heads off (coloured by
  the change: red worse, blue better); the exact numbers on hover.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor

from app.colors import DIVERGING
from app.views.attention.plots import TokenAxis
from app.widgets.text import shown_token


class LossStrip(pg.PlotWidget):
    """-log p of each predicted token: clean (grey) and with the heads off (red worse, blue better)."""

    def __init__(self) -> None:
        self.axis = TokenAxis("bottom")
        super().__init__(background="w", axisItems={"bottom": self.axis})
        self.setLabel("left", "-log p (nats)")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.setMouseEnabled(x=True, y=False)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.before_item = pg.BarGraphItem(x=[], height=[], width=0.4, brush="#b8bcc4", pen=pg.mkPen(None))
        self.after_item = pg.BarGraphItem(x=[], height=[], width=0.4, brushes=[], pen=pg.mkPen(None))
        self.addItem(self.before_item)
        self.addItem(self.after_item)
        self.tokens: list[str] = []  # the predicted tokens
        self.before = np.zeros(0)
        self.after = np.zeros(0)
        self.title = ""
        self.unit = "nats"
        self.scene().sigMouseMoved.connect(self._hovered)

    @property
    def delta(self) -> np.ndarray:
        return self.after - self.before

    def show_losses(self, tokens: list[str], before: np.ndarray, after: np.ndarray, title: str,
                    axis: str = "-log p (nats)", unit: str = "nats", least: float = 0.5) -> None:
        """Bars of ``before`` and ``after`` per token; ``least``: the smallest change that is full colour."""
        self.tokens, self.before, self.after = list(tokens), np.asarray(before), np.asarray(after)
        self.unit = unit
        self.setLabel("left", axis)
        n = len(tokens)
        x = np.arange(n, dtype=float)
        delta = self.delta
        span = max(float(np.abs(delta).max()) if n else 0.0, least)
        cmap = pg.colormap.get(DIVERGING)
        brushes = [pg.mkBrush(cmap.map(0.5 + 0.5 * float(np.clip(d / span, -1, 1)), mode="qcolor")) for d in delta]
        for b in brushes:  # a change of zero is white in the map: give it an outline's worth of grey
            c = b.color()
            if c.lightness() > 235:
                b.setColor(QColor("#d8d8d8"))
        self.before_item.setOpts(x=x + 0.5 - 0.2, height=self.before, width=0.4)
        self.after_item.setOpts(x=x + 0.5 + 0.2, height=self.after, width=0.4, brushes=brushes)
        self.axis.tokens = [shown_token(t) for t in tokens]
        self.axis.picture = None
        self.axis.update()
        top = max(float(self.before.max()) if n else 1.0, float(self.after.max()) if n else 1.0, least * 2)
        self.getPlotItem().vb.setRange(QRectF(0, 0, max(min(n, 60), 1), top * 1.08), padding=0)
        self.title = title
        self.setTitle(title, size="9pt", color="#222")

    def clear_losses(self, title: str = "") -> None:
        self.show_losses([], np.zeros(0), np.zeros(0), title)

    def _hovered(self, pos) -> None:  # noqa: ANN001
        if not self.tokens:
            return
        x = self.getPlotItem().vb.mapSceneToView(pos).x()
        k = int(np.floor(x))
        if 0 <= k < len(self.tokens):
            b, a = self.before[k], self.after[k]
            self.setTitle(f"'{shown_token(self.tokens[k])}': {b:.4f} \u2192 {a:.4f} {self.unit} ({a - b:+.4f})",
                          size="9pt", color="#222")
        else:
            self.setTitle(self.title, size="9pt", color="#222")
