"""The Training view: a form for the run, start / pause / resume / stop, live loss curves, and what the run
ended with (its summary and "Use this model").

A new run gets a new folder (runs/run-N) by default; starting in a folder that already holds a run asks
whether to resume it, replace it or use a new folder. The run itself is app state (AppContext.run): this
view starts and controls it and draws its events; the other views follow it through the context.
Curves are numpy arrays redrawn at most at the bridge's drain rate (20 Hz), with clipToView and
autoDownsample so a long run stays cheap to draw.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
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

from app.context import short_path
from app.views.base import View
from app.widgets.dialogs import ask_reuse
from app.widgets.names import named
from engine.checkpoint import is_checkpoint, read_config
from engine.errors import UserError
from engine.events import Evaluation, Progress
from engine.training import CHANGEABLE_ON_RESUME, TrainConfig
from engine.workspace import next_run_folder

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef, Run


def spin(lo: int, hi: int, value: int, step: int = 1) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setSingleStep(step)
    s.setGroupSeparatorShown(True)
    return s


def fmt_seconds(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TrainingView(View):
    key = "training"
    title = "Training"
    follows_model = False  # it makes models; it never computes with the one in use

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        d = TrainConfig()
        self.corpus = named(QLineEdit(ctx.corpus), "training.corpus", "Corpus",
                            "shakespeare, shakespeare:tragedies,comedies, or a UTF-8 text file")
        browse = named(QPushButton("Browse..."), "training.browse", "Choose a corpus file")
        browse.clicked.connect(self._browse)
        self.objective = named(QComboBox(), "training.objective", "Training objective",
                               "next token: a causal model like GPT, p(x_t | x_<t); masked: a bidirectional model "
                               "like BERT that predicts [MASK]ed tokens from both sides (seed 001, Figure 11.5)")
        self.objective.addItem("next token (GPT, causal)", "next")
        self.objective.addItem("masked tokens (BERT, bidirectional)", "mlm")
        self.tokenizer = named(QComboBox(), "training.tokenizer", "Tokenizer")
        self.tokenizer.addItems(["char", "word", "bpe"])
        self.objective.currentIndexChanged.connect(self._objective_changed)
        self.vocab = named(spin(0, 100_000, 0, 256), "training.vocab", "Vocabulary size")
        self.vocab.setSpecialValueText("all")
        self.d = named(spin(8, 1024, d.d, 8), "training.d", "Model width d")
        self.H = named(spin(1, 32, d.H), "training.heads", "Heads H")
        self.L = named(spin(1, 24, d.L), "training.layers", "Layers L")
        self.m = named(spin(0, 8192, 0, 64), "training.d-ff", "Feed-forward width m")
        self.m.setSpecialValueText("4 d")
        self.context = named(spin(8, 1024, d.context, 8), "training.context", "Context T")
        self.batch = named(spin(1, 512, d.batch), "training.batch", "Batch size")
        self.lr = named(QDoubleSpinBox(), "training.lr", "Learning rate")
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(d.lr)
        self.steps = named(spin(1, 1_000_000, d.steps, 100), "training.steps", "Training steps")
        self.snapshot_every = named(spin(0, 10_000, 25, 5), "training.snapshot-every", "Snapshot every N steps")
        self.autosave_every = named(spin(0, 100_000, d.autosave_every, 100), "training.autosave-every",
                                    "Autosave every N steps")
        self.out = named(QLineEdit(str(next_run_folder())), "training.out", "Checkpoint folder",
                         "Each run gets a new folder; a folder that already holds a run is only reused if you say so")

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.corpus, 1)
        row.addWidget(browse)
        form.addRow("corpus", row)
        form.addRow("objective", self.objective)
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
        box = self.form_box = QGroupBox("Run")
        box.setLayout(form)
        self._form_before: TrainConfig | None = None  # the user's settings while the form shows a followed run's

        self.start_btn = named(QPushButton("Start"), "training.start", "Start training")
        self.pause_btn = named(QPushButton("Pause"), "training.pause", "Pause or resume training")
        self.stop_btn = named(QPushButton("Stop"), "training.stop", "Stop training (keeps the checkpoint)")
        self.save_btn = named(QPushButton("Save checkpoint as..."), "training.save-as", "Save a copy of the run")
        self.start_btn.clicked.connect(self.start)
        self.pause_btn.clicked.connect(self._pause_clicked)
        self.stop_btn.clicked.connect(self._stop_clicked)
        self.save_btn.clicked.connect(self.save_dialog)
        buttons = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.stop_btn, self.save_btn):
            buttons.addWidget(b)
        self.use_live = named(QCheckBox("use while training"), "training.use-live",
                              "Use the run's model in every view while it trains",
                              "Every view computes with the run's weights as they train (otherwise they keep the "
                              "model picked in the toolbar until the run ends)")
        self.use_live.toggled.connect(self._use_live_toggled)
        self.state = named(QLabel("No run yet."), "training.state", "Training state")
        self.state.setWordWrap(True)
        self.summary = named(QLabel(), "training.summary", "What the run ended with")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.use_btn = named(QPushButton("Use this model"), "training.use", "Use the trained model in every view")
        self.use_btn.clicked.connect(self.use_model)
        self.use_btn.hide()

        self.progress = named(QProgressBar(), "training.progress", "Training progress")
        self.rate = named(QLabel("tokens/s: -"), "training.rate", "Tokens per second")
        self.eta = named(QLabel("time left: -"), "training.eta", "Time left")
        self.accuracy = named(QLabel(""), "training.accuracy", "Masked-token accuracy on held-out text")
        self.plot = named(pg.PlotWidget(background="w"), "training.plot", "Loss curves")
        self.plot.addLegend(offset=(-10, 10))  # top right: a loss curve starts top left
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
        left.addWidget(self.use_live)
        left.addWidget(self.state)
        left.addWidget(self.summary)
        left.addWidget(self.use_btn)
        left.addStretch(1)
        left_w = QWidget()
        left_w.setLayout(left)
        left_w.setMaximumWidth(440)
        right = QVBoxLayout()
        stats = QHBoxLayout()
        stats.addWidget(self.progress, 1)
        stats.addWidget(self.rate)
        stats.addWidget(self.eta)
        stats.addWidget(self.accuracy)
        right.addLayout(stats)
        right.addWidget(self.plot, 1)
        body = QHBoxLayout()
        body.addWidget(left_w)
        body.addLayout(right, 1)
        self.layout_.addLayout(body, 1)
        self._before_live: ModelRef | None = None
        self.reset_curves()
        self.set_buttons(None)
        ctx.runChanged.connect(self.run_changed)
        ctx.runProgress.connect(self.add_progress)
        ctx.runEvaluations.connect(self.add_evaluations)
        ctx.runSaved.connect(lambda ev: self.show_info(f"checkpoint saved at step {ev.step:,}: {short_path(ev.path)}"))
        ctx.corpusChanged.connect(self.corpus.setText)
        self.show_source("No run yet", "the views use the model picked in the toolbar")

    # --- the form ----------------------------------------------------------------------------------

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open text corpus", "", "Text files (*.txt);;All files (*)")
        if path:
            self.corpus.setText(path)

    def _objective_changed(self) -> None:
        if self.objective.currentData() == "mlm" and self.tokenizer.currentText() == "char":
            self.tokenizer.setCurrentText("bpe")  # a blank should be a word or a piece of one, not a letter

    def show_config(self, cfg: TrainConfig) -> None:
        """Fill the form with ``cfg`` (a followed run's settings, or the user's own back)."""
        self.corpus.setText(cfg.corpus)
        self.objective.setCurrentIndex(max(0, self.objective.findData(cfg.objective)))
        self.tokenizer.setCurrentText(cfg.tokenizer)
        for box, value in ((self.vocab, cfg.vocab_size), (self.d, cfg.d), (self.H, cfg.H), (self.L, cfg.L),
                           (self.m, cfg.m), (self.context, cfg.context), (self.batch, cfg.batch),
                           (self.steps, cfg.steps), (self.snapshot_every, cfg.snapshot_every),
                           (self.autosave_every, cfg.autosave_every)):
            box.setValue(value)
        self.lr.setValue(cfg.lr)
        self.out.setText(cfg.out)

    def _show_followed(self, run: Run) -> None:
        """While a run is followed the form shows its settings, read-only; afterwards the user's come back."""
        following = run.external and run.active
        if following and run.steps:
            if self._form_before is None:
                self._form_before = self.config()
            self.show_config(run.config)
            self.form_box.setTitle("Run (the followed run's settings, from its live log)")
        elif not following and self._form_before is not None:
            self.show_config(self._form_before)
            self._form_before = None
            self.form_box.setTitle("Run")
        self.form_box.setEnabled(not following)

    def config(self) -> TrainConfig:
        return TrainConfig(corpus=self.corpus.text().strip() or "shakespeare", tokenizer=self.tokenizer.currentText(),
                           objective=str(self.objective.currentData()),
                           vocab_size=self.vocab.value(), d=self.d.value(), H=self.H.value(), L=self.L.value(),
                           m=self.m.value(), context=self.context.value(), batch=self.batch.value(),
                           lr=self.lr.value(), steps=self.steps.value(), snapshot_every=self.snapshot_every.value(),
                           autosave_every=self.autosave_every.value(), out=self.out.text().strip(),
                           eval_every=max(10, min(250, self.steps.value() // 8)))

    # --- starting ----------------------------------------------------------------------------------

    def start(self) -> None:
        cfg = self.config()
        if not cfg.out:
            cfg.out = str(next_run_folder())
            self.out.setText(cfg.out)
        out = Path(cfg.out)
        resume = overwrite = False
        if out.exists() and not out.is_dir():
            self.show_error(f"{cfg.out} is a file; choose a folder for the checkpoint")
            return
        old = out.parent / f".{out.name}.old"
        if is_checkpoint(out) or is_checkpoint(old):
            answer = self.ask_reuse(out)
            if answer == "cancel":
                return
            if answer == "new":
                cfg.out = str(next_run_folder(out.parent, out.name.rsplit("-", 1)[0] if "-" in out.name else out.name))
                self.out.setText(cfg.out)
            resume, overwrite = answer == "resume", answer == "overwrite"
            if resume:  # the run's own settings; only what may change on resume comes from the form
                cfg = self.resumed_config(out, cfg)
        elif out.is_dir() and any(out.iterdir()):
            self.show_error(f"{cfg.out} already holds other files; choose a new or empty folder")
            return
        result = self.ctx.start_run(cfg, resume=resume, overwrite=overwrite)
        if isinstance(result, str):
            self.show_error(result)
            return
        self.header.clear_error()
        self.reset_curves()
        self.summary.clear()
        self.use_btn.hide()

    def resumed_config(self, out: Path, form: TrainConfig) -> TrainConfig:
        """The checkpoint's training settings, with the form's values for what a resumed run may change
        (engine.training.CHANGEABLE_ON_RESUME); the form then shows the settings the run goes on with."""
        try:
            saved = read_config(out).get("train") or {}
        except UserError:
            saved = {}
        known = {k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__}
        cfg = replace(TrainConfig(**known), **{k: getattr(form, k) for k in CHANGEABLE_ON_RESUME})
        self.show_form(cfg)
        return cfg

    def show_form(self, cfg: TrainConfig) -> None:
        self.corpus.setText(cfg.corpus)
        self.objective.setCurrentIndex(max(0, self.objective.findData(getattr(cfg, "objective", "next"))))
        self.tokenizer.setCurrentText(cfg.tokenizer)
        for box, value in ((self.vocab, cfg.vocab_size), (self.d, cfg.d), (self.H, cfg.H), (self.L, cfg.L),
                           (self.m, cfg.m), (self.context, cfg.context), (self.batch, cfg.batch)):
            box.setValue(int(value))

    def ask_reuse(self, out: Path) -> str:
        """A folder that holds a run: "resume", "overwrite", "new" or "cancel"."""
        try:
            what = f"a run at step {int(read_config(out).get('step', 0)):,}"
        except UserError:
            what = "a run"
        return ask_reuse(self, "training.reuse", "The folder holds a run",
                         f"{short_path(out)} already holds {what}. Resume it, replace it (its checkpoint is "
                         "overwritten), or train in a new folder?", "Resume it")

    def _stop_clicked(self) -> None:
        run = self.ctx.run
        if run is not None and run.external:
            self.ctx.stop_following()  # another process trains it: stop watching, not training
        else:
            self.ctx.stop_run()

    def _pause_clicked(self) -> None:
        run = self.ctx.run
        if run is None:
            return
        if run.state == "paused":
            self.ctx.resume_run()
        else:
            self.ctx.pause_run()

    # --- the run as it goes ------------------------------------------------------------------------

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
        self.rate.setText("tokens/s: -")
        self.eta.setText("time left: -")
        self.accuracy.setText("")

    def set_buttons(self, run: Run | None) -> None:
        active = run is not None and run.active
        external = run is not None and run.external
        self.start_btn.setEnabled(not active)  # while following, the form shows the other run's settings and folder
        self.pause_btn.setEnabled(active and not external and run.state in ("running", "paused"))
        self.stop_btn.setEnabled(active and run.state != "stopping")
        self.stop_btn.setText("Stop following" if external and active else "Stop")
        self.use_live.setEnabled(not external)  # another process's weights are not in this app until it saves
        self.pause_btn.setText("Resume" if run is not None and run.state == "paused" else "Pause")
        self.save_btn.setEnabled(run is not None and run.ref is not None and run.state != "failed")

    def run_changed(self, run: Run) -> None:
        self.set_buttons(run)
        self._show_followed(run)
        folder = short_path(run.folder) if run.folder else "(not saved)"
        steps = f"step {run.step:,} of {run.steps:,}"
        if run.state == "starting":
            self.reset_curves()
        if run.external:
            text = {"starting": f"Following {folder}: reading its live log\u2026",
                    "running": f"Following {folder}, trained by another process: {steps}"}.get(run.state)
        else:
            text = {"starting": f"Starting: reading the corpus and training the tokenizer for {folder}\u2026",
                    "running": f"Training {folder}: {steps}",
                "paused": f"Paused at step {run.step:,} of {run.steps:,}.",
                    "stopping": f"Stopping at step {run.step:,}: saving the checkpoint\u2026"}.get(run.state)
        if text is not None:
            self.state.setText(text)
            self.show_source(f"run {folder}", f"{run.state}, {steps}")
        if run.state == "running" and run.ref is not None and self.use_live.isChecked():
            self._use_live_toggled(True)
        if run.state in ("finished", "failed"):
            self.finished(run)

    def finished(self, run: Run) -> None:
        folder = short_path(run.folder) if run.folder else ""
        if run.state == "failed":
            self.state.setText(f"Failed: {run.error}")
            self.show_error(run.error)
            self.show_source(f"run {folder}", "failed")
            self.use_btn.hide()
            return
        s = run.summary
        how = "Stopped" if s.get("stopped") else "Finished"
        if run.external and s.get("followed") is False:
            self.state.setText(f"Stopped following {folder} at step {run.step:,} (the run itself goes on).")
            self.show_source(f"run {folder}", f"not followed any more, step {run.step:,}")
            self.mark_painted()
            return
        loss = f"{s['final_loss']:.3f}" if s.get("final_loss") is not None else "-"
        val = f"{s['val_loss']:.3f}" if s.get("val_loss") is not None else "-"
        if s.get("val_accuracy") is not None:  # a masked model: how many held-out blanks it fills right
            val += f" (masked-token accuracy {100 * s['val_accuracy']:.1f}%)"
        where = short_path(s["checkpoint"]) if s.get("checkpoint") else "not saved (no folder)"
        self.state.setText(f"{how} at step {run.step:,} of {run.steps:,}.")
        self.summary.setText(f"<b>{how}</b> after {run.step:,} steps in {fmt_seconds(run.seconds)}: training loss "
                             f"{loss}, validation loss {val}, {s.get('tokens_per_s', 0):,.0f} tokens/s.<br>"
                             f"Checkpoint: {where}")
        self.show_source(f"run {folder}", f"{how.lower()} at step {run.step:,}")
        self.use_btn.setVisible(run.ref is not None)
        in_use = self.ctx.model is not None and run.ref is not None and self.ctx.model.key == run.ref.key
        self.use_btn.setEnabled(not in_use)
        self.use_btn.setText("In use by every view" if in_use else "Use this model")
        self.use_live.setChecked(False)
        if s.get("checkpoint") and Path(self.out.text().strip() or ".").resolve() == Path(s["checkpoint"]).resolve():
            self.out.setText(str(next_run_folder(Path(s["checkpoint"]).parent)))  # the next run: a new folder
        self.mark_painted()

    def use_model(self) -> None:
        if self.ctx.use_run_model():
            self.use_btn.setEnabled(False)
            self.use_btn.setText("In use by every view")

    def _use_live_toggled(self, on: bool) -> None:
        run = self.ctx.run
        if on and run is not None and run.active and run.ref is not None and run.ref.live:
            if self.ctx.model is not None and self.ctx.model.key != run.ref.key:
                self._before_live = self.ctx.model
            self.ctx.use_run_model()
        elif not on and self._before_live is not None and run is not None and run.active:
            self.ctx.set_model(self._before_live)
            self._before_live = None

    def add_progress(self, events: list[Progress]) -> None:
        last = events[-1]
        self.steps_x = np.concatenate([self.steps_x, np.array([e.step for e in events], dtype=np.float64)])
        self.loss_y = np.concatenate([self.loss_y, np.array([e.metrics.get("loss", np.nan) for e in events],
                                                            dtype=np.float64)])
        self.train_curve.setData(self.steps_x, self.loss_y)
        self.progress.setMaximum(last.total or 0)
        self.progress.setValue(last.step)
        self.rate.setText(f"tokens/s: {last.metrics.get('tokens_per_s', 0):,.0f}")
        self.eta.setText(f"time left: {fmt_seconds(last.eta)}" if last.eta is not None else "time left: -")
        run = self.ctx.run
        if run is not None and run.state == "paused":  # the step under way when Pause was pressed has ended
            self.state.setText(f"Paused at step {last.step:,} of {last.total:,}.")
        if run is not None and run.state == "running":
            doing = "Following" if run.external else "Training"
            of = f" of {last.total:,}" if last.total else ""
            self.state.setText(f"{doing} {short_path(run.folder) if run.folder else ''}: step {last.step:,}{of}, "
                               f"loss {last.metrics.get('loss', float('nan')):.3f}")
            self.show_source(f"run {short_path(run.folder) if run.folder else ''}",
                             f"{'followed' if run.external else 'training'}, step {last.step:,}{of}")
        self.mark_painted()

    def add_evaluations(self, events: list[Evaluation]) -> None:
        for e in events:
            self.eval_x.append(e.step)
            self.eval_train.append(e.metrics["train_loss"])
            self.eval_val.append(e.metrics["val_loss"])
            if e.metrics.get("val_accuracy") is not None:
                self.accuracy.setText(f"held-out blanks filled right: {100 * e.metrics['val_accuracy']:.1f}% "
                                      f"(step {e.step:,})")
        self.eval_train_curve.setData(self.eval_x, self.eval_train)
        self.val_curve.setData(self.eval_x, self.eval_val)

    # --- saving a copy -------------------------------------------------------------------------------

    def save_dialog(self) -> None:
        path = QFileDialog.getSaveFileName(self, "Save checkpoint as (a folder)", str(next_run_folder()))[0]
        if path:
            self.save_to(path)

    def save_to(self, path: str) -> None:
        """A copy of the run (with its training state while it trains) in ``path``."""
        run = self.ctx.run
        if run is None or run.ref is None or run.ref.handle is None:
            self.show_error("there is no run to save")
            return
        handle = run.ref.handle

        def job() -> str:
            from engine.checkpoint import save_checkpoint

            if handle.trainer is not None:
                return str(handle.trainer.save(path))
            return str(save_checkpoint(path, handle.model, handle.tokenizer,
                                       extra={k: v for k, v in handle.config.items()
                                              if k not in ("format", "version", "model", "tokenizer")}))

        def saved(where: Any) -> None:
            self.ctx.remember(str(Path(where).resolve()))
            self.show_info(f"checkpoint saved: {short_path(where)}")

        self.run(job, saved, key="save", what="saving the checkpoint")
