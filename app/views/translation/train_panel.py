"""The Translation view's "Train" page: architecture, data, budget, Start / Stop, and the live curves (the
training loss after every step, the validation exact match at every validation)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.widgets.names import named
from engine.seq2seq.models import ARCHS
from engine.seq2seq.train import TrainPoint

LOSS_COLOR, EM_COLOR = "#4c72b0", "#2ca02c"
ARCH_TITLES = {"rnn": "rnn: plain RNN encoder-decoder, no attention",
               "gru": "gru: GRU encoder-decoder, no attention (seed 000)",
               "lstm": "lstm: LSTM encoder-decoder, no attention",
               "rnn-attention": "rnn-attention: GRU + attention (seed 002, 11.2.1)",
               "transformer": "transformer: attention only (seed 002, 11.3)"}


class TrainPanel(QWidget):
    """The form and the curves; the view starts the job and feeds :meth:`add_points`."""

    def __init__(self) -> None:
        super().__init__()
        self.arch = named(QComboBox(), "translation.train-arch", "Architecture to train")
        for arch in ARCHS:
            self.arch.addItem(ARCH_TITLES.get(arch, arch), arch)
        self.arch.setCurrentIndex(ARCHS.index("transformer"))
        self.data = named(QComboBox(), "translation.train-data", "Sentence pairs to train on")
        self.data.addItem("the grammar task (English-like to verb-final)", "grammar")
        self.data.addItem("my own parallel text (source<TAB>target)\u2026", "file")
        self.data_file = ""
        self.unit = named(QComboBox(), "translation.train-unit", "Train for minutes or for steps")
        self.unit.addItem("minutes", "minutes")
        self.unit.addItem("steps", "steps")
        self.budget = named(QDoubleSpinBox(), "translation.train-budget", "How long to train")
        self.budget.setGroupSeparatorShown(True)
        self.unit.currentIndexChanged.connect(self._unit_changed)
        self._unit_changed()
        self.out = named(QLineEdit(), "translation.train-out", "Folder the translator is saved to")
        self.start_btn = named(QPushButton("Start"), "translation.train-start", "Start training")
        self.stop_btn = named(QPushButton("Stop"), "translation.train-stop", "Stop training (it saves)")
        self.stop_btn.setEnabled(False)
        self.state = named(QLabel("Train a translator from scratch; when it ends (or you stop it: it saves) it "
                                  "becomes the current translator."), "translation.train-state",
                           "What the training is doing")
        self.state.setWordWrap(True)
        form = QFormLayout()
        form.addRow("architecture", self.arch)
        form.addRow("data", self.data)
        budget = QHBoxLayout()
        budget.addWidget(self.budget, 1)
        budget.addWidget(self.unit)
        form.addRow("train for", budget)
        form.addRow("save to", self.out)
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_btn)
        buttons.addWidget(self.stop_btn)
        buttons.addStretch(1)

        self.curves = named(pg.GraphicsLayoutWidget(), "translation.train-curves",
                            "Training loss and validation exact match")
        self.curves.setBackground("w")
        self.loss_plot = self.curves.addPlot(row=0, col=0)
        self.loss_plot.setLabel("left", "loss")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.2)
        self.em_plot = self.curves.addPlot(row=1, col=0)
        self.em_plot.setLabel("left", "valid. exact match", units="%")
        self.em_plot.setLabel("bottom", "training step")
        self.em_plot.showGrid(x=True, y=True, alpha=0.2)
        self.em_plot.setYRange(0, 100)
        self.em_plot.setXLink(self.loss_plot)
        for p in (self.loss_plot, self.em_plot):
            p.setMenuEnabled(False)
            p.hideButtons()
            p.getAxis("left").setWidth(52)
            p.getAxis("left").enableAutoSIPrefix(False)
        self.loss_line = self.loss_plot.plot([], [], pen=pg.mkPen(LOSS_COLOR, width=1.5))
        self.em_line = self.em_plot.plot([], [], pen=pg.mkPen(EM_COLOR, width=2), symbol="o", symbolSize=6,
                                         symbolBrush=EM_COLOR)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.state)
        lay.addWidget(self.curves, 1)
        self.loss: list[tuple[int, float]] = []
        self.exact: list[tuple[int, float]] = []

    def _unit_changed(self) -> None:
        if self.unit.currentData() == "steps":
            self.budget.setDecimals(0)
            self.budget.setRange(1, 1_000_000)
            self.budget.setSingleStep(100)
            self.budget.setValue(1000)
        else:
            self.budget.setDecimals(1)
            self.budget.setRange(0.1, 600.0)
            self.budget.setSingleStep(0.5)
            self.budget.setValue(2.0)

    @property
    def steps(self) -> int:
        return int(self.budget.value()) if self.unit.currentData() == "steps" else 0

    @property
    def minutes(self) -> float:
        return float(self.budget.value()) if self.unit.currentData() == "minutes" else 0.0

    def set_running(self, running: bool) -> None:
        for w in (self.arch, self.data, self.unit, self.budget, self.out, self.start_btn):
            w.setEnabled(not running)
        self.stop_btn.setEnabled(running)

    def clear_curves(self) -> None:
        self.loss, self.exact = [], []
        self.loss_line.setData([], [])
        self.em_line.setData([], [])

    def add_points(self, points: list[TrainPoint]) -> None:
        for p in points:
            if p.kind == "step" and p.loss is not None:
                self.loss.append((p.step, p.loss))
            elif p.kind == "eval" and p.exact_match is not None:
                self.exact.append((p.step, 100 * p.exact_match))
        if self.loss:
            xs, ys = zip(*self.loss, strict=True)
            self.loss_line.setData(list(xs), list(ys))
        if self.exact:
            xs, ys = zip(*self.exact, strict=True)
            self.em_line.setData(list(xs), list(ys))
