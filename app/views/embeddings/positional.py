"""Positional encodings: the T x T cosine similarity (seed 002, Eq. 11.1) of every pair of position vectors,
for the model's own positions (learned W_P, or its fixed table) beside the sinusoidal encoding of the same
T and d, on one diverging colour scale fixed to [-1, 1]; below, the mean cosine of positions a distance
k apart. A sinusoidal table gives a band that depends only on |i - j|; learned positions show how far the
model has found that near positions are alike."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from engine.embeddings.explore import PositionalSimilarity, mean_by_offset

DIVERGING = "CET-D1"  # blue - white - red, symmetric about 0


class PositionalPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.result: PositionalSimilarity | None = None
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground("w")
        self.images: list[pg.ImageItem] = []
        self.plots: list[pg.PlotItem] = []
        for col in range(2):
            plot = self.glw.addPlot(row=0, col=col)
            img = pg.ImageItem(axisOrder="row-major")
            plot.addItem(img)
            plot.invertY(True)
            plot.setAspectLocked(True)
            plot.setLabel("bottom", "position j", color="#333")
            plot.setLabel("left", "position i", color="#333")
            plot.setMenuEnabled(False)
            for side in ("left", "bottom"):
                plot.getAxis(side).setTextPen("#333")
            self.plots.append(plot)
            self.images.append(img)
        self.bar = pg.ColorBarItem(values=(-1.0, 1.0), colorMap=pg.colormap.get(DIVERGING), interactive=False,
                                   width=14, pen="#999")
        self.bar.setImageItem(self.images)
        self.bar.axis.setLabel("cosine similarity", color="#333")
        self.glw.addItem(self.bar, row=0, col=2)
        self.offsets = self.glw.addPlot(row=1, col=0, colspan=2)
        self.offsets.setLabel("bottom", "distance |i \u2212 j| between positions", color="#333")
        self.offsets.setLabel("left", "mean cosine", color="#333")
        for side in ("left", "bottom"):
            self.offsets.getAxis(side).setTextPen("#333")
        self.offsets.showGrid(x=True, y=True, alpha=0.2)
        self.offsets.setYRange(-1, 1)
        self.offsets.addLegend(offset=(10, -6), labelTextColor="#222", brush=pg.mkBrush(255, 255, 255, 220))
        self.model_curve = self.offsets.plot([], [], pen=pg.mkPen("#d62728", width=2), name="model")
        self.sin_curve = self.offsets.plot([], [], pen=pg.mkPen("#1f77b4", width=2), name="sinusoidal")
        self.offsets.addLine(y=0, pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine))
        self.glw.ci.layout.setRowStretchFactor(0, 3)
        self.glw.ci.layout.setRowStretchFactor(1, 1)
        self.hover = QLabel("Hover a cell for the cosine of two positions.")
        self.hover.setStyleSheet("color: #333")
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #555")
        lay = QVBoxLayout(self)
        lay.addWidget(self.caption)
        lay.addWidget(self.glw, 1)
        lay.addWidget(self.hover)
        self.glw.scene().sigMouseMoved.connect(self._moved)

    def show_result(self, ps: PositionalSimilarity, step: int | None = None) -> None:
        self.result = ps
        own = "learned W_P" if ps.kind == "learned" else "the model's sinusoidal table"
        at = f" at step {step}" if step is not None else ""
        titles = [f"model: {own}{at} (T = {ps.T}, d = {ps.d})", f"sinusoidal, same T = {ps.T} and d = {ps.d}"]
        for plot, img, matrix, title in zip(self.plots, self.images, (ps.model, ps.sinusoidal), titles, strict=True):
            img.setImage(np.ascontiguousarray(matrix, dtype=np.float32), levels=(-1.0, 1.0), autoLevels=False)
            img.setRect(-0.5, -0.5, ps.T, ps.T)
            plot.setTitle(title, color="#222", size="10pt")
            plot.setRange(xRange=(-0.5, ps.T - 0.5), yRange=(-0.5, ps.T - 0.5), padding=0.01)
        self.bar.setLevels((-1.0, 1.0))
        k = np.arange(ps.T)
        self.model_curve.setData(k, mean_by_offset(ps.model))
        self.sin_curve.setData(k, mean_by_offset(ps.sinusoidal))
        same = " (the model uses sinusoidal positions: both panels are the same table)" if ps.kind != "learned" else ""
        self.caption.setText("Cosine similarity (Eq. 11.1) of every pair of position vectors, on a fixed "
                             "scale from \u22121 (blue) through 0 (white) to +1 (red); the diagonal is 1." + same)

    def _moved(self, pos) -> None:  # type: ignore[no-untyped-def]
        if self.result is None:
            return
        for plot, matrix, name in zip(self.plots, (self.result.model, self.result.sinusoidal),
                                      ("model", "sinusoidal"), strict=True):
            if plot.sceneBoundingRect().contains(pos):
                p = plot.vb.mapSceneToView(pos)
                i, j = int(round(p.y())), int(round(p.x()))
                if 0 <= i < len(matrix) and 0 <= j < len(matrix):
                    self.hover.setText(f"{name}: cos(position {i}, position {j}) = {matrix[i, j]:+.3f}")
                return
