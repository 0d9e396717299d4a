"""The alignment heatmap of a translation: source words across, target words down, one cell per (target word,
source word) with the attention the decoder paid to that source word when it chose that target word.

- :class:`WordAxis`: words as tick labels; when they do not all fit side by side they alternate between the
  two opposite axes (bottom and top, left and right), so a 40-word sentence still names every word at a
  readable size, and only past that are they thinned.
- :class:`AlignmentPlot`: the heatmap (viridis, 0 to 1), its colour bar, the exact weight on hover, and
  the grammar's true alignment outlined where the translation follows the reference.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFont, QFontMetricsF
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.colors import heat_lut, to_indexed

TRUTH_COLOR = "#ff3b30"


class WordAxis(pg.AxisItem):
    """Labels the cells 0..n-1 of one axis with words. Rows (left and right axes): ``lane`` 0 (left) or 1
    (right); when the words are crowded every other one goes to the right-hand axis. Columns (bottom axis):
    written upright while they fit side by side, turned to read upwards (``vertical``) when they do not."""

    def __init__(self, orientation: str, lane: int = 0) -> None:
        super().__init__(orientation)
        self.lane = lane
        self.words: list[str] = []
        self.vertical = False
        self.font = QFont("DejaVu Sans", 9)
        self.metrics = QFontMetricsF(self.font)
        self.setStyle(tickFont=self.font, textFillLimits=[(0, 1.0)], tickLength=-3)
        self.setTextPen("#222")
        self.setPen("#888")

    def set_words(self, words: list[str]) -> None:
        self.words = list(words)
        self.picture = None
        self.update()

    def widest(self) -> float:
        return max((self.metrics.horizontalAdvance(w) for w in self.words), default=0.0)

    def room(self, lo: int, hi: int) -> float:
        """Pixels one label needs along the axis."""
        if self.orientation in ("left", "right") or self.vertical:
            return 0.9 * self.metrics.height()  # lower-case words rarely use the font's full height
        return max((self.metrics.horizontalAdvance(w) for w in self.words[lo: hi + 1]), default=8.0) + 8

    def shown(self, lo_val: float, hi_val: float, size: float) -> list[int]:
        """The cells this axis labels for a view of [lo_val, hi_val] over ``size`` pixels."""
        if not self.words or size <= 0:
            return []
        lo_val, hi_val = sorted((lo_val, hi_val))
        lo, hi = max(0, math.floor(lo_val)), min(len(self.words) - 1, math.ceil(hi_val))
        if hi < lo:
            return []
        px = size / max(hi_val - lo_val, 1e-6)  # pixels per cell
        need = max(1, math.ceil(self.room(lo, hi) / px))  # cells between two labels on one axis
        if self.orientation in ("top", "bottom"):
            return list(range(lo - lo % need, hi + 1, need))
        if need == 1:  # every row's word fits on the left
            return list(range(lo, hi + 1)) if self.lane == 0 else []
        every = math.ceil(need / 2)  # left and right: each labels every other one of these
        return [i for i in range(lo - lo % every, hi + 1, every) if (i // every) % 2 == self.lane]

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
        cells = self.shown(minVal, maxVal, size)
        return [(1.0, [i + 0.5 for i in cells])] if cells else []

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        if self.vertical:  # the cell number: narrow, so pyqtgraph keeps the edge labels; drawPicture writes the word
            return [str(int(v)) for v in values]
        return [self.words[int(v)] if 0 <= int(v) < len(self.words) else "" for v in values]

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs):  # noqa: N802 (pyqtgraph's name)
        if not self.vertical:
            super().drawPicture(p, axisSpec, tickSpecs, textSpecs)
            return
        super().drawPicture(p, axisSpec, tickSpecs, [])
        p.setFont(self.font)
        p.setPen(self.textPen())
        h = self.metrics.height()
        for rect, _flags, cell in textSpecs:  # each label turned to read upwards, ending at the axis
            text = self.words[int(cell)] if cell.isdigit() and int(cell) < len(self.words) else ""
            p.save()
            p.translate(rect.center().x(), axisSpec[1].y() + 3)
            p.rotate(-90)
            w = self.metrics.horizontalAdvance(text) + 2
            p.drawText(QRectF(-w, -h / 2, w, h), int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                       text)
            p.restore()


class AlignmentPlot(QWidget):
    """One alignment matrix (T target words x S source words) under a caption that says what it is; hovering a
    cell puts its exact weight in the caption."""

    def __init__(self) -> None:
        super().__init__()
        self.caption = QLabel()
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setStyleSheet("color:#333")
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("w")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.caption)
        lay.addWidget(self.canvas, 1)
        self.axes = {"bottom": WordAxis("bottom"), "left": WordAxis("left", 0), "right": WordAxis("right", 1)}
        self.plot = self.canvas.addPlot(axisItems=self.axes)
        self.plot.showAxis("right")
        self.plot.setLabel("bottom", "source words")
        self.plot.setLabel("left", "target words (one decoding step each)")
        self.plot.invertY(True)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.vb.setMouseEnabled(x=False, y=False)  # the whole matrix is always in view
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(heat_lut())
        self.plot.addItem(self.image)
        self.truth = pg.ScatterPlotItem(symbol="s", pen=pg.mkPen(TRUTH_COLOR, width=2), brush=None, pxMode=False)
        self.plot.addItem(self.truth)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"), interactive=False,
                                        width=12, label="attention weight")
        self.canvas.addItem(self.colorbar)
        self.values: np.ndarray | None = None
        self.source: list[str] = []
        self.target: list[str] = []
        self.title = ""
        self.hover_text = ""
        self.image.hoverEvent = self._hover
        self.plot.vb.sigResized.connect(lambda _vb: self.fit_axes())

    def show_matrix(self, mat: np.ndarray, source: list[str], target: list[str], title: str,
                    truth: list[tuple[int, int]] | None = None) -> None:
        """``mat`` (T, S) in [0, 1]; ``truth``: (target row, source column) cells of the true alignment."""
        self.values = np.asarray(mat, dtype=np.float32)
        T, S = self.values.shape
        self.source, self.target = list(source), list(target)
        self.image.setImage(to_indexed(self.values, 0.0, 1.0), levels=(0, 255), autoLevels=False)
        self.image.setRect(QRectF(0, 0, S, T))
        self.axes["bottom"].set_words(self.source)
        for side in ("left", "right"):
            self.axes[side].set_words(self.target)
        cells = truth or []
        self.truth.setData(x=[j + 0.5 for _, j in cells], y=[t + 0.5 for t, _ in cells], size=0.86)
        self.plot.setRange(QRectF(0, 0, S, T), padding=0)
        self.fit_axes()
        self.title = title
        self.caption.setText(title)

    def clear_matrix(self, title: str = "") -> None:
        self.values = None
        self.image.clear()
        self.truth.setData([])
        for axis in self.axes.values():
            axis.set_words([])
        self.title = title
        self.caption.setText(title)

    def fit_axes(self) -> None:
        """Source words upright when they fit side by side, else turned (the axis as tall as the longest)."""
        bottom = self.axes["bottom"]
        S = len(self.source)
        width = self.plot.vb.width() or self.canvas.width() * 0.8
        vertical = S > 0 and width / S < bottom.widest() + 8
        if vertical != bottom.vertical or vertical:
            bottom.vertical = vertical
            bottom.setHeight(int(bottom.widest() + 10 + bottom.label.boundingRect().height()) if vertical else None)
            bottom.picture = None
            bottom.update()

    def cell_text(self, t: int, j: int) -> str:
        assert self.values is not None
        return (f"target word {t + 1} \u2018{self.target[t]}\u2019 looked at source word {j + 1} "
                f"\u2018{self.source[j]}\u2019 with weight {self.values[t, j]:.3f}")

    def _hover(self, ev) -> None:  # noqa: ANN001
        if ev.isExit() or self.values is None:
            self.caption.setText(self.title)
            self.hover_text = ""
            return
        pos = ev.pos()
        t, j = int(pos.y()), int(pos.x())
        T, S = self.values.shape
        if 0 <= t < T and 0 <= j < S:
            self.hover_text = self.cell_text(t, j)
            self.caption.setText(self.hover_text)
