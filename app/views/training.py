"""The Training view: a form for the run, start / pause / resume / stop, live loss curves.

Curves are numpy arrays redrawn at most at the bridge's drain rate (20 Hz), with clipToView and
autoDownsample so a long run stays cheap to draw.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.training import Evaluation, Progress, TrainConfig


def _spin(lo: int, hi: int, value: int, step: int = 1) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setSingleStep(step)
    return s


def _fmt_seconds(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TrainingView(QWidget):
    startRequested = Signal(object)  # TrainConfig
    pauseRequested = Signal()
    resumeRequested = Signal()
    stopRequested = Signal()
    saveAsRequested = Signal()

    def __init__(self) -> None:
        super().__init__()
        d = TrainConfig()
        self.corpus = QLineEdit(d.corpus)
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        self.tokenizer = QComboBox()
        self.tokenizer.addItems(["char", "word", "bpe"])
        self.vocab = _spin(0, 100_000, 0, 256)
        self.vocab.setSpecialValueText("all")
        self.d = _spin(8, 1024, d.d, 8)
        self.H = _spin(1, 32, d.H)
        self.L = _spin(1, 24, d.L)
        self.m = _spin(0, 8192, 0, 64)
        self.m.setSpecialValueText("4 d")
        self.context = _spin(8, 1024, d.context, 8)
        self.batch = _spin(1, 512, d.batch)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(d.lr)
        self.steps = _spin(1, 1_000_000, d.steps, 100)
        self.snapshot_every = _spin(0, 10_000, 25, 5)
        self.autosave_every = _spin(0, 100_000, d.autosave_every, 100)
        self.out = QLineEdit("runs/app")

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.corpus, 1)
        row.addWidget(browse)
        form.addRow("corpus", row)
        form.addRow("tokenizer", self.tokenizer)
        form.addRow("vocab size", self.vocab)
        form.addRow("d (width)", self.d)
        form.addRow("H (heads)", self.H)
        form.addRow("L (layers)", self.L)
        form.addRow("m (feed-forward)", self.m)
        form.addRow("context T", self.context)
        form.addRow("batch", self.batch)
        form.addRow("learning rate", self.lr)
        form.addRow("steps", self.steps)
        form.addRow("snapshot every", self.snapshot_every)
        form.addRow("autosave every", self.autosave_every)
        form.addRow("checkpoint folder", self.out)
        box = QGroupBox("Run")
        box.setLayout(form)

        self.start_btn = QPushButton("Start")
        self.pause_btn = QPushButton("Pause")
        self.stop_btn = QPushButton("Stop")
        self.save_btn = QPushButton("Save checkpoint as...")
        self.start_btn.clicked.connect(lambda: self.startRequested.emit(self.config()))
        self.pause_btn.clicked.connect(self._pause_clicked)
        self.stop_btn.clicked.connect(self.stopRequested.emit)
        self.save_btn.clicked.connect(self.saveAsRequested.emit)
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.stop_btn, self.save_btn):
            buttons.addWidget(b)

        self.progress = QProgressBar()
        self.rate = QLabel("tokens/s: -")
        self.eta = QLabel("time left: -")
        self.state = QLabel("idle")
        self.plot = pg.PlotWidget(background="w")
        self.plot.addLegend()
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "cross-entropy loss (nats)")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.train_curve = self.plot.plot(pen=pg.mkPen("#1f77b4", width=1), name="train")
        self.eval_train_curve = self.plot.plot(pen=pg.mkPen("#2ca02c", width=2), symbol="o", symbolSize=5,
                                               name="train (eval)")
        self.val_curve = self.plot.plot(pen=pg.mkPen("#d62728", width=2), symbol="o", symbolSize=5,
                                        name="validation")
        for c in (self.train_curve, self.eval_train_curve, self.val_curve):
            c.setClipToView(True)
            c.setDownsampling(auto=True, method="mean")
            c.setSkipFiniteCheck(True)

        left = QVBoxLayout()
        left.addWidget(box)
        left.addLayout(buttons)
        left.addWidget(self.state)
        left.addStretch(1)
        right = QVBoxLayout()
        stats = QHBoxLayout()
        stats.addWidget(self.progress, 1)
        stats.addWidget(self.rate)
        stats.addWidget(self.eta)
        right.addLayout(stats)
        right.addWidget(self.plot, 1)
        lay = QHBoxLayout(self)
        lay.addLayout(left)
        lay.addLayout(right, 1)
        self.reset_curves()
        self.set_running(False)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open text corpus", "", "Text files (*.txt);;All files (*)")
        if path:
            self.corpus.setText(path)

    def config(self) -> TrainConfig:
        return TrainConfig(corpus=self.corpus.text().strip() or "shakespeare", tokenizer=self.tokenizer.currentText(),
                           vocab_size=self.vocab.value(), d=self.d.value(), H=self.H.value(), L=self.L.value(),
                           m=self.m.value(), context=self.context.value(), batch=self.batch.value(),
                           lr=self.lr.value(), steps=self.steps.value(), snapshot_every=self.snapshot_every.value(),
                           autosave_every=self.autosave_every.value(), out=self.out.text().strip(),
                           eval_every=max(10, min(250, self.steps.value() // 8)))

    def _pause_clicked(self) -> None:
        if self.pause_btn.text() == "Pause":
            self.pauseRequested.emit()
        else:
            self.resumeRequested.emit()

    def reset_curves(self) -> None:
        self.steps_x = np.zeros(0)
        self.loss_y = np.zeros(0)
        self.eval_x: list[int] = []
        self.eval_train: list[float] = []
        self.eval_val: list[float] = []
        self.train_curve.setData([], [])
        self.eval_train_curve.setData([], [])
        self.val_curve.setData([], [])
        self.progress.setValue(0)

    def set_running(self, running: bool, paused: bool = False) -> None:
        self.start_btn.setEnabled(not running)
        self.pause_btn.setEnabled(running)
        self.stop_btn.setEnabled(running)
        self.pause_btn.setText("Resume" if paused else "Pause")
        self.state.setText("paused" if paused else ("training" if running else "idle"))

    def add_progress(self, events: list[Progress]) -> None:
        last = events[-1]
        self.steps_x = np.concatenate([self.steps_x, np.array([e.step for e in events], dtype=np.float64)])
        self.loss_y = np.concatenate([self.loss_y, np.array([e.loss for e in events], dtype=np.float64)])
        self.train_curve.setData(self.steps_x, self.loss_y)
        self.progress.setMaximum(last.steps)
        self.progress.setValue(last.step)
        self.rate.setText(f"tokens/s: {last.tokens_per_s:,.0f}")
        self.eta.setText(f"time left: {_fmt_seconds(last.eta)}")

    def add_evaluations(self, events: list[Evaluation]) -> None:
        for e in events:
            self.eval_x.append(e.step)
            self.eval_train.append(e.train_loss)
            self.eval_val.append(e.val_loss)
        self.eval_train_curve.setData(self.eval_x, self.eval_train)
        self.val_curve.setData(self.eval_x, self.eval_val)
