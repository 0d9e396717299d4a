"""A model's most probable tokens as horizontal bars, the best on top (a blank's candidates, a prediction)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont

from app.widgets.text import shown_token

BAR = "#4c72b0"
MARKED = "#dd8452"  # the sentence's own token among the candidates


class TopBars(pg.PlotWidget):
    def __init__(self, height: int = 0) -> None:
        super().__init__(background="w")
        self.setLabel("bottom", "probability")
        self.getAxis("bottom").enableAutoSIPrefix(False)
        self.invertY(True)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        if height:
            self.setMinimumHeight(height)
        self.item = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brush=BAR)
        self.addItem(self.item)
        self.tokens: list[str] = []
        self.probs: list[float] = []

    def show_top(self, top: list[tuple[str, float]], title: str = "", marked: str | None = None) -> None:
        self.tokens = [t for t, _ in top]
        self.probs = [p for _, p in top]
        brushes = [MARKED if marked is not None and t == marked else BAR for t in self.tokens]
        self.item.setOpts(x0=np.zeros(len(top)), y=np.arange(len(top)), width=self.probs, brushes=brushes)
        ax = self.getAxis("left")
        ax.setTicks([[(i, f"{shown_token(t)!r}"[1:-1]) for i, t in enumerate(self.tokens)]])
        ax.setStyle(tickFont=QFont("monospace", 9))
        ax.setTextPen("#222")
        self.setXRange(0, max(self.probs, default=1.0) * 1.05 or 1.0)
        self.setYRange(-0.5, max(len(top), 1) - 0.5)
        self.setTitle(title, size="9pt", color="#222")

    def clear_bars(self, title: str = "") -> None:
        self.show_top([], title)
