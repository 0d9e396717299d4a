"""The win-probability curve under a board: P(agent wins) after every move, with the even line at 0.5."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt


class WinCurve(pg.PlotWidget):
    """One point per move; moves without an estimate leave a gap."""

    def __init__(self) -> None:
        super().__init__(background="w")
        self.setMinimumHeight(140)
        self.setMaximumHeight(200)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.getAxis("left").setTicks([[(0, "0"), (0.25, ".25"), (0.5, ".5"), (0.75, ".75"), (1, "1")]])
        self.setLabel("bottom", "move")
        self.setLabel("left", "P(win)")

        even = pg.InfiniteLine(pos=0.5, angle=0, pen=pg.mkPen("#7f8c8d", width=1, style=Qt.PenStyle.DashLine))
        self.addItem(even)
        self.curve = self.plot(pen=pg.mkPen("#1f77b4", width=2.5), symbol="o", symbolSize=7,
                               symbolBrush="#1f77b4", symbolPen="w", connect="finite")
        self.xs: list[int] = []
        self.ys: list[float] = []
        self.enableAutoRange(x=False, y=False)
        self.setYRange(-0.06, 1.06, padding=0)
        self.set_subject("agent")

    def set_subject(self, name: str) -> None:
        """Whose win probability the curve shows (in the title)."""
        self.subject = name
        self.setTitle(f"win probability of {name} after each move (0.5 = even)", color="#1d2733", size="9pt")

    def reset(self) -> None:
        self.xs, self.ys = [], []
        self._redraw()

    def add(self, move: int, p: float | None) -> None:
        """The estimate after ``move`` moves; a later point for the same move replaces the earlier one."""
        value = float("nan") if p is None else float(p)
        while self.xs and self.xs[-1] >= move:
            self.xs.pop()
            self.ys.pop()
        self.xs.append(move)
        self.ys.append(value)
        self._redraw()

    def truncate(self, moves: int) -> None:
        """Forget points after ``moves`` moves (Undo)."""
        while self.xs and self.xs[-1] > moves:
            self.xs.pop()
            self.ys.pop()
        self._redraw()

    def points(self) -> int:
        return len(self.xs)

    def last(self) -> float | None:
        return None if not self.ys or math.isnan(self.ys[-1]) else self.ys[-1]

    def _redraw(self) -> None:
        self.curve.setData(np.array(self.xs, dtype=float), np.array(self.ys, dtype=float))
        self.setXRange(0, max(9, self.xs[-1] if self.xs else 0), padding=0.02)
        self.setYRange(-0.06, 1.06, padding=0)
