"""The gates of the GRU and the LSTM over one sequence (engine.gradients.gates_over_time): the mean of each
gate over the units against time (left, its legend under it), and one cell's gates as heatmaps, time across
and units down, on a shared 0..1 colour bar (right)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt

from app.colors import heat_lut, to_indexed

GATE_TITLES = {("gru", "z"): "GRU z (update: keep V when 1)", ("gru", "r"): "GRU r (reset)",
               ("lstm", "i"): "LSTM i (input)", ("lstm", "f"): "LSTM f (forget: keep c when 1)",
               ("lstm", "o"): "LSTM o (output)"}
SHORT_TITLES = {("gru", "z"): "GRU z: update", ("gru", "r"): "GRU r: reset", ("lstm", "i"): "LSTM i: input",
                ("lstm", "f"): "LSTM f: forget", ("lstm", "o"): "LSTM o: output"}  # over equally wide heatmaps
GATE_PENS = {("gru", "z"): ("#2ca02c", Qt.PenStyle.SolidLine), ("gru", "r"): ("#2ca02c", Qt.PenStyle.DashLine),
             ("lstm", "i"): ("#1f77b4", Qt.PenStyle.DotLine), ("lstm", "f"): ("#1f77b4", Qt.PenStyle.SolidLine),
             ("lstm", "o"): ("#1f77b4", Qt.PenStyle.DashLine)}
MAX_HEATMAPS = 3  # the LSTM's i, f, o


class GatesPanel(pg.GraphicsLayoutWidget):
    """Column 0: the mean gate values over time; then the chosen cell's gates as time x units heatmaps."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.means = self.addPlot(row=0, col=0)
        self.means.setLabel("bottom", "time step t (the answer is at t = 0)")
        self.means.setLabel("left", "mean over the units")
        self.means.setYRange(0, 1, padding=0.02)
        self.means.showGrid(x=True, y=True, alpha=0.2)
        self.legend = pg.LegendItem(labelTextSize="8pt", colCount=2, verSpacing=-8)  # under the plot, not on it
        self.addItem(self.legend, row=1, col=0)
        self.lines: dict[tuple[str, str], pg.PlotDataItem] = {}
        for key, title in GATE_TITLES.items():
            color, style = GATE_PENS[key]
            self.lines[key] = self.means.plot([], [], pen=pg.mkPen(color, width=2, style=style))
            self.legend.addItem(self.lines[key], title)
        self.maps: list[tuple[pg.PlotItem, pg.ImageItem]] = []
        for i in range(MAX_HEATMAPS):
            plot = self.addPlot(row=0, col=1 + i, rowspan=2)
            plot.invertY(True)
            plot.setLabel("bottom", "time step t")
            plot.setLabel("left", "unit")
            plot.setMouseEnabled(x=False, y=False)
            image = pg.ImageItem(axisOrder="row-major")
            image.setLookupTable(heat_lut())
            plot.addItem(image)
            self.maps.append((plot, image))
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"), interactive=False,
                                        width=12, label="gate value")
        self.addItem(self.colorbar, row=0, col=1 + MAX_HEATMAPS, rowspan=2)
        grid = self.ci.layout
        grid.setColumnStretchFactor(0, 5)
        for i in range(MAX_HEATMAPS):
            grid.setColumnStretchFactor(1 + i, 3)
        grid.setRowStretchFactor(0, 4)
        self.cell = "lstm"
        self.gates: dict[str, Any] = {}  # arch -> engine.gradients.Gates

    def clear_gates(self) -> None:
        self.gates = {}
        for line in self.lines.values():
            line.setData([], [])
        for plot, image in self.maps:
            image.clear()
            plot.setTitle("")

    def show_gates(self, gates: dict[str, Any], cell: str | None = None) -> None:
        """``gates``: arch -> Gates for "gru" and / or "lstm"; the heatmaps show ``cell``'s (or the other one's)."""
        self.gates = dict(gates)
        if cell is not None:
            self.cell = cell
        for (arch, name), line in self.lines.items():
            g = self.gates.get(arch)
            line.setVisible(g is not None)
            if g is not None:
                mean = g.means[name]
                line.setData(np.arange(len(mean)), mean)
        self.draw_maps()

    def draw_maps(self) -> None:
        cell = self.shown_cell()
        values = self.gates[cell].values if cell is not None else {}
        for i, (plot, image) in enumerate(self.maps):
            names = list(values)
            if i >= len(names):
                image.clear()
                plot.setTitle("")
                plot.hide()
                continue
            plot.show()
            v = values[names[i]].T  # (H, T): units down, time across
            image.setImage(to_indexed(v, 0.0, 1.0), levels=(0, 255), autoLevels=False)
            image.setRect(QRectF(0, 0, v.shape[1], v.shape[0]))
            plot.setRange(QRectF(0, 0, v.shape[1], v.shape[0]), padding=0)
            plot.setTitle(SHORT_TITLES[(cell, names[i])], size="9pt")

    def shown_cell(self) -> str | None:
        return self.cell if self.cell in self.gates else next(iter(self.gates), None)
