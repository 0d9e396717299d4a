"""The Vanishing gradients view (seed 000: "Vanishing-gradient problem"; seed 003: RNNs "struggling with
long-range dependencies due to the vanishing gradient problem"), run and seen.

Choose the architectures (plain RNN, GRU, LSTM, transformer) and the length T of the recall task (the answer,
read at the last step, is the first of T tokens), press Start, and watch them train side by side:

- the norm of the loss's gradient with respect to the input embedding at each distance from the output, on a
  log scale, one line per architecture (dashed: at initialisation), redrawn as they train;
- the accuracy of each against the step, with chance, and their loss and accuracy now;
- the GRU's and the LSTM's gates over one sequence (the mean of each gate against time, and one cell's
  gates as time x units heatmaps), read at every snapshot; after a run, on any new sequence.

Everything is computed by engine.gradients in the engine thread (one job; its snapshots stream back through
the job's partial results and are drawn at most 20 times a second).
"""

from __future__ import annotations

import html
import math
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
)

from app.views.base import View
from app.views.gradients.gates import GatesPanel
from app.views.training.view import spin
from app.widgets.layout import column
from app.widgets.names import named
from engine.gradients import ARCH_TITLES, ARCHS, MAX_LENGTH, MIN_LENGTH, RecallTask
from engine.tasks import CancelToken

if TYPE_CHECKING:
    from app.context import AppContext

SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


class DecadeAxis(pg.AxisItem):
    """A log axis drawn from log10 values: a label at every k-th power of ten (10\u207b\u00b9\u2070, ...), k chosen
    so that about eight fit, and unlabelled ticks at the decades between."""

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
        lo, hi = math.floor(minVal), math.ceil(maxVal)
        if hi - lo < 1:
            return super().tickValues(minVal, maxVal, size)
        fit = max(2, int(size // 28))  # labels 28 px apart at least
        self.k = k = next(s for s in (1, 2, 3, 5, 10, 20, 25, 50, 100, 200) if (hi - lo) / s <= fit or s == 200)
        major = [float(v) for v in range(lo - lo % k, hi + 1, k) if minVal <= v <= maxVal]
        minor = [float(v) for v in range(lo, hi + 1) if minVal <= v <= maxVal and v % k] if k <= 5 else []
        return [(float(k), major), (1.0, minor)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        return [decade(v) if spacing >= getattr(self, "k", 1) else "" for v in values]


def decade(v: float) -> str:
    n = int(round(v))
    return {0: "1", 1: "10"}.get(n, "10" + str(n).translate(SUPERSCRIPT))


ARCH_COLORS = {"rnn": "#d62728", "gru": "#2ca02c", "lstm": "#1f77b4", "transformer": "#9467bd"}
REDRAW_MS = 50  # at most 20 redraws a second, however fast snapshots come
FLOOR = 1e-300  # a gradient of exactly 0 still has a place on the log axis (log10: -300)


class GradientsView(View):
    key = "gradients"
    title = "Vanishing gradients"
    follows_model = False  # its own small models, never the language model in use

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.arch_boxes: dict[str, QCheckBox] = {}
        row = QHBoxLayout()
        for arch in ARCHS:
            box = named(QCheckBox(ARCH_TITLES[arch]), f"gradients.arch-{arch}", f"Train the {ARCH_TITLES[arch]}")
            box.setChecked(True)
            box.setStyleSheet(f"QCheckBox {{ color: {ARCH_COLORS[arch]}; font-weight: bold }}")
            self.arch_boxes[arch] = box
            row.addWidget(box)
        self.length = named(spin(MIN_LENGTH, MAX_LENGTH, 60, 10), "gradients.length",
                            "Length T of the sequences", "T tokens; the answer is the first, read after the last")
        self.steps = named(spin(1, 1_000_000, 400, 100), "gradients.steps", "Training steps")
        self.every = named(spin(1, 10_000, 10, 5), "gradients.every", "Measure every N steps",
                           "the gradient, accuracy and gates are measured every N steps (each measurement costs "
                           "about three training steps)")
        self.seed = named(spin(0, 1_000_000, 0), "gradients.seed", "Random seed")
        for label, widget in (("T", self.length), ("steps", self.steps), ("measure every", self.every),
                              ("seed", self.seed)):
            row.addSpacing(6)
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        self.start_btn = named(QPushButton("Start"), "gradients.start", "Start training the chosen architectures")
        self.stop_btn = named(QPushButton("Stop"), "gradients.stop", "Stop training, keeping the models")
        self.stop_btn.setEnabled(False)
        self.start_btn.clicked.connect(lambda: self.start())
        self.stop_btn.clicked.connect(self.stop)
        row.addSpacing(6)
        row.addWidget(self.start_btn)
        row.addWidget(self.stop_btn)
        row.addStretch(1)
        self.relative = named(QCheckBox("relative to t = 0"), "gradients.relative",
                              "Divide each curve by its own value at distance 0",
                              "each curve divided by its gradient at distance 0: how fast it decays, whatever the "
                              "size of the loss (a solved task sends little gradient back at any distance)")
        self.relative.toggled.connect(lambda _on: self.draw())
        row.addWidget(self.relative)
        self.layout_.addLayout(row)
        self.status = named(QLabel(), "gradients.status", "What the training is doing")
        self.status.setWordWrap(True)
        self.layout_.addWidget(self.status)

        self.plot = named(pg.PlotWidget(background="w", axisItems={"left": DecadeAxis("left")}), "gradients.plot",
                          "Gradient norm against distance")
        self.plot.setLabel("bottom", "distance t from the output (steps back)")
        self.plot.setLabel("left", "gradient norm \u2016\u2202L / \u2202e(t)\u2016")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.addLegend(offset=(10, -10), brush=pg.mkBrush(255, 255, 255, 215), labelTextColor="#222")
        self.lines: dict[str, pg.PlotDataItem] = {}
        self.init_lines: dict[str, pg.PlotDataItem] = {}
        for arch in ARCHS:
            color = ARCH_COLORS[arch]
            self.init_lines[arch] = self.plot.plot([], [], pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DashLine),
                                                   connect="finite")
            self.lines[arch] = self.plot.plot([], [], pen=pg.mkPen(color, width=2.5), name=ARCH_TITLES[arch],
                                              connect="finite")
        self.plot.plot([], [], pen=pg.mkPen("#666", width=1, style=Qt.PenStyle.DashLine), name="at step 0")
        self.answer = pg.InfiniteLine(angle=90, pen=pg.mkPen("#777", style=Qt.PenStyle.DotLine),
                                      label="the answer", labelOpts={"position": 0.08, "color": "#555"})
        self.plot.addItem(self.answer)

        self.acc_plot = named(pg.PlotWidget(background="w"), "gradients.accuracy", "Accuracy against step")
        self.acc_plot.setLabel("bottom", "training step")
        self.acc_plot.setLabel("left", "accuracy")
        self.acc_plot.setYRange(0, 1.05, padding=0)
        self.acc_plot.showGrid(x=True, y=True, alpha=0.25)
        self.acc_lines = {a: self.acc_plot.plot([], [], pen=pg.mkPen(ARCH_COLORS[a], width=2), symbol="o",
                                                symbolSize=4, symbolBrush=ARCH_COLORS[a], symbolPen=None)
                          for a in ARCHS}
        self.chance = pg.InfiniteLine(angle=0, pen=pg.mkPen("#999", style=Qt.PenStyle.DashLine), label="chance",
                                      labelOpts={"position": 0.9, "color": "#555", "fill": (255, 255, 255, 210)})
        self.acc_plot.addItem(self.chance)
        self.table = named(QLabel(), "gradients.table", "Loss and accuracy of each architecture")
        self.table.setTextFormat(Qt.TextFormat.RichText)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.plot)
        top.addWidget(column((self.acc_plot, 1), self.table))
        top.setSizes([640, 380])

        self.gates = named(GatesPanel(), "gradients.gates", "GRU and LSTM gates over one sequence")
        self.gates_cell = named(QComboBox(), "gradients.gates-cell", "Whose gates the heatmaps show")
        self.gates_cell.addItem("LSTM gates i, f, o", "lstm")
        self.gates_cell.addItem("GRU gates z, r", "gru")
        self.gates_cell.currentIndexChanged.connect(self._cell_chosen)
        self.new_seq_btn = named(QPushButton("Another sequence"), "gradients.new-sequence",
                                 "Read the trained cells' gates on another random sequence")
        self.new_seq_btn.clicked.connect(self.new_sequence)
        self.new_seq_btn.setEnabled(False)
        self.gates_caption = QLabel()
        self.gates_caption.setWordWrap(True)
        gates_row = QHBoxLayout()
        gates_row.addWidget(QLabel("<b>Gates over one sequence</b>"))
        gates_row.addWidget(self.gates_caption, 1)
        gates_row.addWidget(QLabel("heatmaps:"))
        gates_row.addWidget(self.gates_cell)
        gates_row.addWidget(self.new_seq_btn)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(column(gates_row, (self.gates, 1)))
        split.setSizes([430, 330])
        self.layout_.addWidget(split, 1)

        self.archs: tuple[str, ...] = ()
        self.task: RecallTask | None = None
        self.latest: Any = None  # the newest engine.gradients.GradientSnapshot drawn or waiting
        self.initial: Any = None  # the run's step-0 snapshot
        self.history: dict[str, list[tuple[int, float, float]]] = {}  # arch -> (step, loss, accuracy)
        self.trained: Any = None  # the finished engine.gradients.GradientRun (its models read new sequences)
        self.total_steps = 0
        self.training = False
        self._stop = threading.Event()
        self._seq_seed = 0
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self.draw)
        self._started = False
        self.status.setText("Choose the architectures and T, then Start: they train side by side on recalling the "
                            "first token, and the plot shows how much gradient still reaches each input.")
        self.show_source("recall task", "not trained yet")

    def showEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(ev)
        if not self._started:  # the picture at initialisation, so the view never opens empty
            self._started = True
            self.start(steps=0)

    # --- training -----------------------------------------------------------------------------

    def chosen_archs(self) -> tuple[str, ...]:
        return tuple(a for a in ARCHS if self.arch_boxes[a].isChecked())

    def start(self, steps: int | None = None) -> None:
        """Train the chosen architectures for ``steps`` (the spin box's value when None; 0: measure at init)."""
        if self.training:
            return
        archs = self.chosen_archs()
        if not archs:
            self.show_error("choose at least one architecture to train")
            return
        length, seed, every = self.length.value(), self.seed.value(), self.every.value()
        steps = self.steps.value() if steps is None else steps
        self.archs, self.task, self.total_steps = archs, RecallTask(length), steps
        self.latest = self.initial = self.trained = None
        self.history = {a: [] for a in archs}
        self._stop = threading.Event()
        stop = self._stop

        def job(token: CancelToken) -> Any:
            from engine.gradients import train_recall

            return train_recall(archs, length, steps, seed=seed, every=every, token=token, should_stop=stop.is_set)

        self.training = True
        self._controls()
        self.status.setText(f"Measuring {len(archs)} architectures at initialisation\u2026" if steps == 0 else
                            f"Training {', '.join(ARCH_TITLES[a] for a in archs)} on T = {length}\u2026")
        self.run(job, self._finished, key="train", what="training" if steps else "measuring", cancellable=True,
                 on_error=self._failed, on_partial=self._snapshots)

    def stop(self) -> None:
        self._stop.set()
        self.stop_btn.setEnabled(False)
        self.status.setText("Stopping at the next step\u2026")

    def _controls(self) -> None:
        self.start_btn.setEnabled(not self.training)
        self.stop_btn.setEnabled(self.training and self.total_steps > 0)
        self.new_seq_btn.setEnabled(not self.training and self.trained is not None
                                    and any(a in self.trained.models for a in ("gru", "lstm")))

    def _snapshots(self, parts: list[Any]) -> None:
        for snap in parts:
            for arch in snap.loss:
                self.history[arch].append((snap.step, snap.loss[arch], snap.accuracy[arch]))
            if snap.step == 0:
                self.initial = snap
            self.latest = snap
        self._schedule()

    def _schedule(self) -> None:
        if not self._redraw.isActive():
            self._redraw.start()

    def _finished(self, run: Any) -> None:
        self.training = False
        self.trained = run
        self.initial = run.first
        self.latest = run.last
        self.history = {a: [(s.step, s.loss[a], s.accuracy[a]) for s in run.snapshots] for a in run.archs}
        self._controls()
        self._redraw.stop()  # drawn now: a redraw still pending would come after, with nothing new
        self.draw()
        last = run.last
        if last.step == 0:
            self.status.setText("At initialisation: the plain RNN's gradient shrinks by a constant factor with every "
                                "step back; the gated cells' short cuts and attention keep it. Press Start to train.")
        else:
            how = "Stopped" if run.stopped else "Finished"
            ranked = sorted(run.archs, key=lambda a: -last.accuracy[a])
            scores = ", ".join(f"{ARCH_TITLES[a]} {last.accuracy[a]:.2f}" for a in ranked)
            self.status.setText(f"{how} at step {last.step:,} ({last.seconds:.0f} s). Accuracy: {scores} "
                                f"(chance {run.task.chance:.3f}).")

    def _failed(self, text: str) -> None:
        self.training = False
        self._controls()
        self.status.setText("Training failed; see the message above.")
        self.show_error(text)

    def _job_ended(self, job: Any) -> None:
        super()._job_ended(job)
        if job.state == "cancelled" and self.training:  # the header's Cancel, or the window closing
            self.training = False
            self._controls()
            self.status.setText("Cancelled; the plot shows the last measurement.")

    # --- drawing --------------------------------------------------------------------------------

    def draw(self) -> None:
        snap, task = self.latest, self.task
        if snap is None or task is None:
            return
        T = task.length
        x = np.arange(T)
        for arch in ARCHS:
            line, init = self.lines[arch], self.init_lines[arch]
            shown = arch in snap.grad_norm
            line.setVisible(shown)
            init.setVisible(shown and self.initial is not None and snap.step > 0)
            if shown:
                line.setData(x, log10(self._shown(snap.grad_norm[arch])))
                if self.initial is not None and arch in self.initial.grad_norm:
                    init.setData(x, log10(self._shown(self.initial.grad_norm[arch])))
            acc = self.acc_lines[arch]
            rows = self.history.get(arch, [])
            acc.setVisible(bool(rows))
            if rows:
                arr = np.array(rows, dtype=float)
                acc.setData(arr[:, 0], arr[:, 2])
        self.plot.setLabel("left", "gradient norm / its value at t = 0" if self.relative.isChecked() else
                           "gradient norm \u2016\u2202L / \u2202e(t)\u2016")
        self.answer.setValue(T - 1)
        self.plot.setXRange(0, T - 1, padding=0.02)
        self.chance.setValue(task.chance)
        self.acc_plot.setXRange(0, max(1, self.total_steps or self.steps.value()), padding=0.02)
        self.table.setText(self._table_html(snap, T))
        self.table.setMinimumHeight(self.table.sizeHint().height())
        if snap.gates:
            self.gates.show_gates(snap.gates)
            self._caption(snap.step)
        else:
            self.gates.clear_gates()
            self.gates_caption.setText("(train a GRU or an LSTM to see its gates)")
        names = ", ".join(ARCH_TITLES[a] for a in self.archs)
        if self.total_steps == 0:
            self.show_source(f"recall task, T = {T}", f"at initialisation (untrained); {names}")
        else:
            state = "training" if self.training else "stopped" if self.trained is not None and \
                self.trained.stopped else "trained"
            self.show_source(f"recall task, T = {T}", f"{state}, step {snap.step:,} of {self.total_steps:,}; {names}")
        self.mark_painted()

    def _shown(self, g: np.ndarray) -> np.ndarray:
        return g / g[0] if self.relative.isChecked() and g[0] > 0 else g

    def _table_html(self, snap: Any, T: int) -> str:
        d = min(50, T - 1)
        head = ("<tr><th align=left>architecture</th><th>&nbsp;loss&nbsp;</th><th>&nbsp;accuracy&nbsp;</th>"
                f"<th>&nbsp;gradient at t = {d}&nbsp;</th></tr>")
        rows = "".join(f"<tr><td style='color:{ARCH_COLORS[a]}'><b>{html.escape(ARCH_TITLES[a])}</b></td>"
                       f"<td align=right>{snap.loss[a]:.3f}</td><td align=right>{snap.accuracy[a]:.2f}</td>"
                       f"<td align=right>{snap.grad_norm[a][d]:.1e}</td></tr>" for a in snap.loss)
        return f"<table cellspacing=2>{head}{rows}</table>"

    def _caption(self, step: int) -> None:
        tokens = next(iter(self.gates.gates.values())).tokens
        shown = " ".join(str(t) for t in tokens[:12]) + (" \u2026" if len(tokens) > 12 else "")
        self.gates_caption.setText(f"step {step:,}; tokens {html.escape(shown)} \u2014 the answer is "
                                   f"<b>{tokens[0]}</b>")

    def _cell_chosen(self, _index: int) -> None:
        self.gates.cell = self.gates_cell.currentData()
        if self.gates.gates:
            self.gates.draw_maps()

    def new_sequence(self) -> None:
        run = self.trained
        if run is None or self.training:
            return
        self._seq_seed += 1
        seed = self._seq_seed

        def job() -> dict[str, Any]:
            import torch

            from engine.gradients import GATED, gates_over_time

            tokens = run.task.batch(1, torch.Generator().manual_seed(10_000 + seed))[0][0]
            return {a: gates_over_time(m, tokens) for a, m in run.models.items() if a in GATED}

        self.run(job, self._new_gates, key="gates", what="reading the gates")

    def _new_gates(self, gates: dict[str, Any]) -> None:
        self.gates.show_gates(gates)
        self._caption(self.latest.step if self.latest is not None else 0)
        self.mark_painted()


def log10(values: np.ndarray) -> np.ndarray:
    """log10 of the values for the decade axis: non-finite ones (an exploded gradient) left out as NaN, zeros
    at the floor."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v), np.log10(np.maximum(v, FLOOR)), np.nan)
