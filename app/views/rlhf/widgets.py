"""Controls both RLHF views use: a judge picker and live curves redrawn at most ten times a second."""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QPushButton, QSpinBox, QWidget

from app.widgets.names import named

REDRAW_MS = 100  # curves are redrawn at most this often, however fast the points come
JUDGE_KINDS = (("rhyme", "rhyme with the prompt's last word"), ("metre", "iambic pentameter"),
               ("short", "the shorter line"), ("word", "says a word:"))


def spin(name: str, accessible: str, low: int, high: int, value: int, tip: str | None = None) -> QSpinBox:
    box = named(QSpinBox(), name, accessible, tip)
    box.setRange(low, high)
    box.setValue(value)
    return box


def button(text: str, name: str, accessible: str, slot: Callable[[], object], enabled: bool = True,
           tip: str | None = None) -> QPushButton:
    b = named(QPushButton(text), name, accessible, tip)
    b.clicked.connect(lambda _=False: slot())
    b.setEnabled(enabled)
    return b


class JudgePicker(QWidget):
    """A scripted judge: rhyme, metre, short or word:WORD (and "none" when ``none`` is given)."""

    def __init__(self, prefix: str, none: str = "") -> None:
        super().__init__()
        self.combo = named(QComboBox(), f"{prefix}.judge", "Scripted judge",
                           "A scripted judge that stands in for you (engine.rlhf.judges)")
        if none:
            self.combo.addItem(none, "")
        for kind, text in JUDGE_KINDS:
            self.combo.addItem(text, kind)
        self.word = named(QLineEdit("love"), f"{prefix}.judge-word", "The judge's word",
                          "The word the word judge looks for")
        self.word.setMaximumWidth(110)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(self.word)
        self.combo.currentIndexChanged.connect(lambda _: self.word.setVisible(self.combo.currentData() == "word"))
        self.word.setVisible(self.combo.currentData() == "word")

    def name(self) -> str:
        """"rhyme", "metre", "short", "word:WORD" or "" (none); checked by engine.rlhf.judges.make_judge."""
        kind = self.combo.currentData() or ""
        return f"word:{self.word.text().strip()}" if kind == "word" else kind

    def set_name(self, name: str) -> None:
        kind, _, word = name.partition(":")
        i = self.combo.findData(kind)
        if i >= 0:
            self.combo.setCurrentIndex(i)
        if word:
            self.word.setText(word)


class Curves(pg.GraphicsLayoutWidget):
    """Metrics against the step, one plot per metric stacked with a shared step axis; points are kept as they
    come and drawn on a timer (at most every :data:`REDRAW_MS`)."""

    def __init__(self, metrics: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.setBackground("w")
        self.data: dict[str, tuple[list[float], list[float]]] = {}
        self.lines: dict[str, pg.PlotDataItem] = {}
        self.plots: dict[str, pg.PlotItem] = {}
        first = None
        for row, (key, label, colour) in enumerate(metrics):
            plot = self.addPlot(row=row, col=0)
            plot.setLabel("left", label)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.getAxis("left").setWidth(62)
            plot.getAxis("left").enableAutoSIPrefix(False)  # "loss", not "loss (x0.001)"
            if key.endswith("accuracy"):
                plot.setYRange(0, 1.02, padding=0)
                plot.enableAutoRange(axis="y", enable=False)
            if first is None:
                first = plot
            else:
                plot.setXLink(first)
            if row == len(metrics) - 1:
                plot.setLabel("bottom", "step")
            self.plots[key] = plot
            self.lines[key] = plot.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=4,
                                        symbolBrush=colour, symbolPen=None)
            self.data[key] = ([], [])
        self.redraws = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self.redraw)

    def add(self, step: float, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            if key in self.data and value is not None:
                xs, ys = self.data[key]
                xs.append(float(step))
                ys.append(float(value))
        if not self._timer.isActive():
            self._timer.start()

    def show_metric(self, key: str, shown: bool) -> None:
        self.plots[key].setVisible(shown)

    def reset(self) -> None:
        """Forget every point (not clear(): GraphicsLayoutWidget.clear removes the plots)."""
        for key in self.data:
            self.data[key] = ([], [])
        self.redraw()

    def points(self, key: str) -> int:
        """Points drawn on ``key``'s line (what the user sees, not what is queued)."""
        xs, _ = self.lines[key].getOriginalDataset()
        return 0 if xs is None else len(xs)

    def redraw(self) -> None:
        for key, (xs, ys) in self.data.items():
            self.lines[key].setData(xs, ys)
        self.redraws += 1
