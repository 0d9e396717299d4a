"""The Head scores view: how the heads form over training (issue 15).

Top: one line per head (``L.H``, one colour per layer, a dash style per head) of the chosen score
(previous-token, first-token, duplicate-token, induction: engine.interp.heads) against the step. Beneath:
the loss curve with a vertical marker where the induction heads appear (engine.interp.history: an ICL run's
recorded target step, else the first measurement whose largest induction score is >= 0.5; the caption says
which), and for runs on repeated segments the second-copy / first-copy loss ratio on the right axis.

The history is the current model's (engine.interp.history.model_history): a run training in the app (redrawn
at its snapshots), a checkpoint's trainer.json, an ICL checkpoint's measurements. "Train induction heads"
trains a 2-layer model on repeated random segments (engine.interp.icl.train_icl) as an engine task, drawn
live as its measurements arrive; when it ends its checkpoint is saved and "Use this model" makes it the model
of every view.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout

from app.context import short_path
from app.views.base import View
from app.widgets.names import named
from engine.events import Evaluation, Finished, Progress
from engine.interp.heads import SCORES
from engine.interp.history import HeadHistory, empty_history, from_icl_points, induction_marker, model_history

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef
    from engine.interp.icl import IclConfig

ICL_TASK = "icl"
LAYER_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#7f7f7f", "#bcbd22"]
DASHES = [Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine]
SCORE_LABELS = {"previous_token": "previous-token", "first_token": "first-token (sink)",
                "duplicate_token": "duplicate-token", "induction": "induction"}
MAX_LEGEND = 16  # more heads than this: the legend names the layers' colours only


class HeadScoresView(View):
    key = "head-scores"
    title = "Head scores"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.history: HeadHistory = empty_history()
        self.marker_step: int | None = None
        self.showing = "model"  # "model" (the model's history) or "icl" (the induction run of this view)
        self.icl_task: Any = None
        self.icl_points: list[dict[str, Any]] = []
        self.icl_losses: list[float] = []
        self.icl_folder: str | None = None
        self.icl_config: IclConfig | None = None  # settings for the next run (tests: a tiny one)
        self.icl_parent = "runs"  # where its checkpoint goes (runs/icl-N)
        self._model_label = ""

        self.score = named(QComboBox(), "head-scores.score", "Which head score",
                           "previous-token: attention to the token just before; first-token: to the first token "
                           "(the sink); duplicate-token: to the earlier copy of the same token; induction: to the "
                           "token that followed it (A B ... A -> B)")
        for k in SCORES:
            self.score.addItem(SCORE_LABELS[k], k)
        self.score.setCurrentIndex(SCORES.index("induction"))
        self.score.currentIndexChanged.connect(lambda _: self.draw())
        self.steps = named(QSpinBox(), "head-scores.steps", "Steps of the induction run",
                           "Training steps of the 2-layer model on repeated random segments (a measurement "
                           "every 50; about 3 steps a second on this machine)")
        self.steps.setRange(50, 100_000)
        self.steps.setSingleStep(500)
        self.steps.setValue(3000)
        self.steps.setGroupSeparatorShown(True)
        self.train_btn = named(QPushButton("Train induction heads"), "head-scores.train",
                               "Train a small model where induction heads form",
                               "Trains a 2-layer, 2-head model on random segments that repeat (txe icl train): "
                               "a few minutes; drawn live")
        self.train_btn.clicked.connect(lambda: self.train_induction())
        self.stop_btn = named(QPushButton("Stop"), "head-scores.stop", "Stop the induction run (keeps it)")
        self.stop_btn.clicked.connect(self.stop_induction)
        self.stop_btn.setEnabled(False)
        self.use_btn = named(QPushButton("Use this model"), "head-scores.use",
                             "Make the induction run's model the model of every view")
        self.use_btn.clicked.connect(self.use_icl_model)
        self.use_btn.hide()
        self.progress = named(QProgressBar(), "head-scores.progress", "Progress of the induction run")
        self.progress.setMaximumWidth(180)
        self.progress.hide()
        row = QHBoxLayout()
        row.addWidget(QLabel("score"))
        row.addWidget(self.score)
        row.addStretch(1)
        row.addWidget(QLabel("steps"))
        row.addWidget(self.steps)
        row.addWidget(self.train_btn)
        row.addWidget(self.progress)
        row.addWidget(self.stop_btn)
        row.addWidget(self.use_btn)
        self.caption = named(QLabel(), "head-scores.caption", "What the plots show")
        self.caption.setWordWrap(True)

        self.scores_plot = named(pg.PlotWidget(background="w"), "head-scores.plot", "Head scores over training")
        self.scores_plot.setLabel("bottom", "step")
        self.scores_plot.setLabel("left", "score")
        self.scores_plot.showGrid(x=True, y=True, alpha=0.3)
        self.scores_plot.setYRange(0, 1, padding=0.02)
        self.legend = self.scores_plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.lines: list[pg.PlotDataItem] = []

        self.loss_plot = named(pg.PlotWidget(background="w"), "head-scores.loss", "Loss curve and the marker")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.setLabel("left", "training loss (nats)")
        self.loss_plot.showGrid(x=True, y=True, alpha=0.3)
        self.loss_plot.setXLink(self.scores_plot)
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen("#1f77b4", width=1), name="loss")
        self.loss_curve.setClipToView(True)
        self.loss_curve.setDownsampling(auto=True, method="mean")
        dash = pg.mkPen("#d62728", width=2, style=Qt.PenStyle.DashLine)
        self.marker = pg.InfiniteLine(angle=90, movable=False, pen=dash,
                                      label="induction heads", labelOpts={"position": 0.9, "color": "#d62728"})
        self.marker.hide()
        self.loss_plot.addItem(self.marker)
        self.scores_marker = pg.InfiniteLine(angle=90, movable=False,
                                             pen=pg.mkPen("#d62728", width=1, style=Qt.PenStyle.DashLine))
        self.scores_marker.hide()
        self.scores_plot.addItem(self.scores_marker)
        # the timeline cursor: drag it to read every head's score at a step; on the app's run, the Attention
        # view shows the snapshot of that step (ctx.scrubStep)
        self.cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen("#555", width=2),
                                      hoverPen=pg.mkPen("#000", width=3), label="step",
                                      labelOpts={"position": 0.05, "color": "#333"})
        self.cursor.hide()
        self.scores_plot.addItem(self.cursor)
        self.loss_cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#555", width=2))  # its twin
        self.loss_cursor.hide()
        self.loss_plot.addItem(self.loss_cursor)
        self.cursor.sigPositionChanged.connect(lambda line: self.loss_cursor.setValue(line.value()))
        self.cursor.sigPositionChangeFinished.connect(lambda line: self.scrub(int(round(line.value()))))
        self.cursor_text = named(QLabel(), "head-scores.cursor", "The scores at the cursor's step")
        self.cursor_text.setWordWrap(True)
        self.cursor_step: int | None = None
        # the second-copy / first-copy loss ratio on a right axis of its own
        item = self.loss_plot.getPlotItem()
        self.ratio_box = pg.ViewBox()
        item.showAxis("right")
        item.getAxis("right").setStyle(showValues=True)  # pyqtgraph hides a right axis's numbers by default
        item.getAxis("right").setLabel("second / first-copy loss", color="#2ca02c")
        item.scene().addItem(self.ratio_box)
        item.getAxis("right").linkToView(self.ratio_box)
        self.ratio_box.setXLink(item)
        self.ratio_box.setYRange(0, 1.1, padding=0)
        self.ratio_curve = pg.PlotDataItem(pen=pg.mkPen("#2ca02c", width=2), symbol="o", symbolSize=4,
                                           symbolBrush="#2ca02c")
        self.ratio_box.addItem(self.ratio_curve)
        item.vb.sigResized.connect(lambda: self.ratio_box.setGeometry(item.vb.sceneBoundingRect()))

        plots = QVBoxLayout()
        plots.addWidget(self.scores_plot, 3)
        plots.addWidget(self.loss_plot, 2)
        self.layout_.addLayout(row)
        self.layout_.addWidget(self.caption)
        self.layout_.addWidget(self.cursor_text)
        self.layout_.addLayout(plots, 1)
        ctx.runSnapshot.connect(self._run_snapshot)
        self.show_source("loading the model\u2026")

    # --- the model's history ---------------------------------------------------------------------------

    def model_changed(self, ref: ModelRef) -> None:
        self.showing = "model"
        self.set_history(empty_history(), "")  # nothing of the last model stays on the screen
        super().model_changed(ref)

    def refresh(self) -> None:
        if self.showing == "icl":
            self.draw()
            return
        ref = self.ctx.model
        if ref is None:
            return
        handle = ref.handle
        label = ref.label(handle.step) if handle is not None else ref.name

        def job() -> HeadHistory:
            return model_history(handle)

        def failed(text: str) -> None:
            self.set_history(empty_history(), label)
            self.show_error(text)

        self.run(job, lambda h: self.set_history(h, label), key="history", what="reading the training history",
                 on_error=failed)

    def of_the_run(self) -> bool:
        """The history shown is the app's training run's (its snapshots are in the Attention view)."""
        run, ref = self.ctx.run, self.ctx.model
        return (self.showing == "model" and run is not None and ref is not None and run.ref is not None
                and ref.key == run.ref.key)

    def _place_cursor(self) -> None:
        """The cursor on its step when the history still has it, else none until the user drags it."""
        h = self.history
        self.loss_cursor.setVisible(not h.empty)
        if h.empty:
            self.cursor.hide()
            self.cursor_text.setText("")
            self.cursor_step = None
            return
        self.cursor.show()
        if self.cursor_step is not None and self.cursor_step in set(int(x) for x in h.steps):
            self.scrub(self.cursor_step, tell=False)  # a redraw: the other views stay where they are
            return
        self.cursor_step = None
        self.cursor.blockSignals(True)
        self.cursor.setValue(float(h.steps[-1]))
        self.cursor.blockSignals(False)
        self.loss_cursor.setValue(float(h.steps[-1]))
        self.cursor.label.setFormat("drag me")
        self.cursor_text.setText("Drag the grey line along the steps to read every head's score there"
                                 + (" and see that step's attention snapshot in the Attention view."
                                    if self.of_the_run() else "."))

    def scrub(self, step: int, tell: bool = True) -> None:
        """Put the timeline cursor on the measured step nearest ``step``: every head's score there in the
        caption and, on the app's run, the Attention view on that step's snapshot."""
        h = self.history
        if not len(h.steps):
            return
        i = int(np.argmin(np.abs(np.asarray(h.steps) - step)))
        self.cursor_step = int(h.steps[i])
        self.cursor.blockSignals(True)
        self.cursor.setValue(self.cursor_step)
        self.cursor.blockSignals(False)
        self.loss_cursor.setValue(self.cursor_step)
        self.cursor.label.setFormat(f"step {self.cursor_step:,}")
        name = str(self.score.currentData())
        values = np.asarray(h.scores[name])[i]  # (L, H)
        order = np.argsort(values, axis=None)[::-1][:4]
        tops = ", ".join(f"{a}.{b} {values[a, b]:.2f}" for a, b in (np.unravel_index(o, values.shape) for o in order))
        follow = " The Attention view shows the run's snapshot of this step." if self.of_the_run() else ""
        self.cursor_text.setText(f"At step {self.cursor_step:,} (drag the grey line): the highest {name} scores "
                                 f"{tops}.{follow}")
        if tell and self.of_the_run():
            self.ctx.scrubStep.emit(self.cursor_step)

    def _run_snapshot(self, _snap: Any) -> None:
        """A run training in the app measured its heads: redraw when it is the model shown."""
        run, ref = self.ctx.run, self.ctx.model
        if (self.showing == "model" and run is not None and ref is not None and run.ref is not None
                and ref.key == run.ref.key and self.isVisible()):
            self.refresh()

    def set_history(self, h: HeadHistory, label: str) -> None:
        self.history = h
        self._model_label = label
        self.draw()
        if label:
            self.mark_painted()

    # --- drawing ---------------------------------------------------------------------------------

    def draw(self) -> None:
        h = self.history
        name = str(self.score.currentData())
        for line in self.lines:
            self.scores_plot.removeItem(line)
        self.lines = []
        self.legend.clear()
        L, H = h.shape
        if not h.empty:
            values = h.scores[name]  # (N, L, H)
            for layer in range(L):
                colour = LAYER_COLOURS[layer % len(LAYER_COLOURS)]
                for head in range(H):
                    pen = pg.mkPen(colour, width=2 if L * H <= 8 else 1, style=DASHES[head % len(DASHES)])
                    legend = f"{layer}.{head}" if L * H <= MAX_LEGEND else (f"layer {layer}" if head == 0 else None)
                    line = self.scores_plot.plot(h.steps, values[:, layer, head], pen=pen, name=legend,
                                                 symbol="o" if len(h.steps) < 30 else None, symbolSize=4,
                                                 symbolBrush=colour, symbolPen=None)
                    line.setToolTip(f"head {layer}.{head}")
                    self.lines.append(line)
        self.loss_curve.setData(h.loss_steps, h.loss)
        self.ratio_curve.setData(h.ratio_steps, h.ratio)
        self._place_cursor()
        item = self.loss_plot.getPlotItem()
        item.getAxis("right").setVisible(len(h.ratio) > 0)
        self.loss_plot.setLabel("left", "training loss (nats)" if len(h.loss) else "training loss (none saved)")
        step, rule = induction_marker(h)
        self.marker_step = step
        for m in (self.marker, self.scores_marker):
            m.setVisible(step is not None)
            if step is not None:
                m.setValue(step)
        if step is not None:
            self.marker.label.setFormat(f"induction heads: step {step:,}")
        self.caption.setText(self._caption(h, name, step, rule))
        self._header()

    def _caption(self, h: HeadHistory, name: str, step: int | None, rule: str) -> str:
        if h.empty:
            return ("No head scores over training for this model: a run trained in the app measures them at each "
                    "snapshot, and a checkpoint keeps them in trainer.json. \"Train induction heads\" trains a "
                    "2-layer model on repeated random segments and draws them live (a few minutes).")
        L, H = h.shape
        last = h.scores[name][-1]
        best = np.unravel_index(int(last.argmax()), last.shape)
        where = (f"Marker: induction heads appear at step {step:,}" if step is not None else
                 "No marker: the induction heads have not appeared yet")
        ratio = (f" Green (right axis): second-copy / first-copy loss on repeated segments, last "
                 f"{h.ratio[-1]:.2f}." if len(h.ratio) else "")
        return (f"{L * H} lines, one per head (L.H: colour = layer, dash = head) of the {SCORE_LABELS[name]} "
                f"score at {len(h.steps)} measurements; highest now: head {best[0]}.{best[1]} "
                f"({float(last[best]):.2f}). {where} ({rule}).{ratio}")

    def _header(self) -> None:
        h, name = self.history, SCORE_LABELS[str(self.score.currentData())]
        if self.showing == "icl":
            folder = f" {short_path(self.icl_folder)}" if self.icl_folder else ""
            state = "training" if self.icl_task is not None else "finished"
            self.show_source(f"induction run{folder}", f"{state}, step {int(h.steps[-1]) if not h.empty else 0:,}, "
                             f"{name} score")
        elif not self._model_label:
            return
        elif h.empty:
            self.show_source(self._model_label, "no head-score history: train induction heads to see them form")
        else:
            self.show_source(self._model_label, f"{name} score, {len(h.steps)} measurements to step "
                             f"{int(h.steps[-1]):,}")

    # --- the induction run -------------------------------------------------------------------------

    def train_induction(self, cfg: IclConfig | None = None) -> None:
        from engine.interp.icl import IclConfig, save_icl, train_icl
        from engine.workspace import next_run_folder

        cfg = cfg or self.icl_config or IclConfig(steps=self.steps.value())
        out = str(next_run_folder(self.icl_parent, "icl"))

        def make(token):  # type: ignore[no-untyped-def]
            for ev in train_icl(cfg, token):
                if isinstance(ev, Finished):  # the model stays in the engine thread: its saved folder crosses
                    ev = Finished(ev.summary, ev.stopped, str(save_icl(ev.result, out)) if ev.result.steps else None)
                yield ev

        task = self.ctx.engine.start_task(ICL_TASK, make, on_events=self._icl_events, on_finished=self._icl_finished)
        if task is None:
            running = self.ctx.engine.task.name if self.ctx.engine.task is not None else "another task"
            self.show_error(f"{running} is running; the induction run can start when it has finished")
            return
        self.header.clear_error()
        self.icl_task, self.icl_points, self.icl_losses, self.icl_folder = task, [], [], None
        self.showing = "icl"
        self.train_btn.setEnabled(False)
        self.stop_btn.setEnabled(True)
        self.use_btn.hide()
        self.progress.setRange(0, cfg.steps or 0)
        self.progress.setValue(0)
        self.progress.show()
        self.history = from_icl_points([])
        self.draw()

    def stop_induction(self) -> None:
        if self.icl_task is not None:
            self.icl_task.stop()
            self.stop_btn.setEnabled(False)

    def _icl_events(self, events: list[Any]) -> None:
        new = False
        for ev in events:
            if isinstance(ev, Progress):
                self.icl_losses.append(float(ev.metrics["loss"]))
                self.progress.setValue(ev.step)
            elif isinstance(ev, Evaluation):
                self.icl_points.append(ev.metrics)
                new = True
        if self.showing == "icl" and (new or len(self.icl_losses) % 25 == 0):
            self.history = from_icl_points(self.icl_points, self.icl_losses)
            self.draw()
            self.mark_painted()

    def _icl_finished(self, finished: Finished | None, error: str) -> None:
        self.icl_task = None
        self.train_btn.setEnabled(True)
        self.stop_btn.setEnabled(False)
        self.progress.hide()
        if finished is None:
            self.show_error(f"the induction run failed: {error}")
        else:
            self.icl_folder = finished.result if isinstance(finished.result, str) else None
            target = finished.summary.get("target_step")
            self.use_btn.setVisible(self.icl_folder is not None)
            if self.showing == "icl":
                self.history = from_icl_points(self.icl_points, self.icl_losses, target)
                self.draw()
            how = "stopped" if finished.stopped else "finished"
            where = f", saved in {short_path(self.icl_folder)}" if self.icl_folder else ""
            self.show_info(f"induction run {how} at step {finished.summary.get('steps', 0):,}{where}")
        self.mark_painted()

    def use_icl_model(self) -> None:
        if self.icl_folder and Path(self.icl_folder).is_dir():
            self.ctx.open_model(self.icl_folder, on_error=self.show_error)

    @property
    def settled(self) -> bool:
        return super().settled and self.icl_task is None
