"""The RLHF training view: tune the model in use against the preferences (issue 17).

PPO (with the reward model trained in the Feedback view, a value head and a KL penalty to the start model) or
DPO (straight from the preference pairs), run by engine.rlhf.train.RlhfTrainer as an engine task with Start,
Pause, Resume and Stop. Live curves: the reward, the KL divergence to the start model and the line length
(and the judge's score when a judge is chosen) against the step, redrawn at most ten times a second. Beneath:
the same new prompts' lines from the start model and from the policy as it is now, with their rewards. When
the run ends the tuned model is saved (runs/rlhf-N) and "Use this model" makes it every view's model; the Next
token view then shows its distribution beside the start model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.context import short_path
from app.views.base import View
from app.views.rlhf.session import session_of
from app.views.rlhf.widgets import Curves, JudgePicker, button, spin
from app.widgets.layout import column
from app.widgets.names import named
from engine.errors import UserError
from engine.events import Finished, Progress, Saved, Snapshot

if TYPE_CHECKING:
    from app.context import AppContext
    from engine.rlhf.train import RlhfConfig, Watch

RLHF_TASK = "RLHF training"
METRICS = [("reward", "reward", "#4c72b0"), ("kl", "KL to start", "#dd8452"), ("length", "line length", "#55a868"),
           ("judge", "judge's score", "#8172b2")]


def cell(text: str, tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
    item.setToolTip(tip or text)
    return item


def line_text(line: str) -> str:
    """A sampled line as the table shows it: an empty line (the model ended it at once) says so."""
    return line.strip() or "(an empty line)"


def reward_text(v: float | None) -> str:
    return "" if v is None else f"{v:+.2f}"


class RlhfView(View):
    key = "rlhf"
    title = "RLHF training"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.session = session_of(ctx)
        self.task: Any = None
        self.folder: str | None = None
        self.watch: Watch | None = None
        self.start_name = ""
        self.parent_folder = "runs"  # its checkpoints go to runs/rlhf-N
        self.config_extra: dict[str, Any] = {}  # RlhfConfig fields besides the form's (tests: tiny budgets)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._build_form())
        right = QSplitter(Qt.Orientation.Vertical)
        self.curves = named(Curves(METRICS), "rlhf.curves", "Reward, KL and line length against the step")
        right.addWidget(self.curves)
        right.addWidget(self._build_table())
        right.setSizes([430, 300])
        split.addWidget(right)
        split.setSizes([330, 900])
        self.layout_.addWidget(split, 1)
        self.curves.show_metric("judge", False)
        self.session.pairsChanged.connect(self._header)
        self.session.rewardChanged.connect(self._header)
        self.show_source("loading the model\u2026")

    def _build_form(self) -> QWidget:
        self.method = named(QComboBox(), "rlhf.method", "Method",
                            "PPO: against the reward model, with a KL penalty; DPO: straight from the pairs")
        self.method.addItem("PPO (reward model + KL penalty)", "ppo")
        self.method.addItem("DPO (from the pairs)", "dpo")
        self.steps = spin("rlhf.steps", "Steps", 1, 1_000_000, 150, "PPO iterations or DPO steps")
        self.minutes = named(QDoubleSpinBox(), "rlhf.minutes", "Minutes", "A time budget (0: none)")
        self.minutes.setRange(0, 10_000)
        self.minutes.setValue(0)
        self.beta = named(QDoubleSpinBox(), "rlhf.beta", "KL coefficient beta",
                          "How strongly PPO is held near the start model (DPO: its own beta, 0.1)")
        self.beta.setDecimals(3)
        self.beta.setRange(0, 10)
        self.beta.setSingleStep(0.01)
        self.beta.setValue(0.05)
        self.lr = named(QDoubleSpinBox(), "rlhf.lr", "Learning rate")
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1e-1)
        self.lr.setSingleStep(1e-5)
        self.lr.setValue(1e-4)
        self.judge = JudgePicker("rlhf", none="no judge")
        self.judge_chosen = False  # until the user picks one here, the judge follows the Feedback view's
        self.judge.combo.activated.connect(lambda _: setattr(self, "judge_chosen", True))
        form = QFormLayout()
        for label, widget in (("method", self.method), ("steps", self.steps), ("minutes", self.minutes),
                              ("beta (KL)", self.beta), ("learning rate", self.lr), ("judge to watch", self.judge)):
            form.addRow(label, widget)
        self.start_btn = button("Start", "rlhf.start", "Start RLHF training", self.start)
        self.pause_btn = button("Pause", "rlhf.pause", "Pause RLHF training", lambda: self._control("pause"))
        self.resume_btn = button("Resume", "rlhf.resume", "Resume RLHF training", lambda: self._control("resume"))
        self.stop_btn = button("Stop", "rlhf.stop", "Stop RLHF training (the model so far is saved)",
                               lambda: self._control("stop"))
        self.use_btn = button("Use this model", "rlhf.use", "Use the tuned model in every view", self.use_model)
        self.use_btn.hide()
        row = QHBoxLayout()
        for b in (self.start_btn, self.pause_btn, self.resume_btn, self.stop_btn):
            row.addWidget(b)
        self.progress = named(QProgressBar(), "rlhf.progress", "RLHF steps done")
        self.progress.hide()
        self.status = named(QLabel(), "rlhf.status", "What RLHF training did")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.needs = named(QLabel(), "rlhf.needs", "What the method needs")
        self.needs.setWordWrap(True)
        box = QGroupBox("RLHF")
        QVBoxLayout(box).addWidget(column(form, row, self.progress, self.needs, self.status, self.use_btn,
                                          (QWidget(), 1)))
        self.method.currentIndexChanged.connect(lambda _: self._header())
        self._buttons()
        return box

    def _build_table(self) -> QWidget:
        self.table = named(QTableWidget(0, 5), "rlhf.lines", "The same prompts' lines before and after")
        self.table.setHorizontalHeaderLabels(["prompt", "start model", "reward", "tuned", "reward"])
        hh = self.table.horizontalHeader()
        for c in (0, 1, 3):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
        for c in (2, 4):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(True)
        self.table_caption = named(QLabel("New prompts (never trained on): the start model's line beside the "
                                          "tuned model's, sampled with the same seed."),
                                   "rlhf.lines-caption", "What the table shows")
        self.table_caption.setWordWrap(True)
        return column(self.table_caption, (self.table, 1))

    # --- the model --------------------------------------------------------------------------------------

    def refresh(self) -> None:
        if self.ctx.model is not None:
            self._header()
            self.mark_painted()

    def showEvent(self, ev) -> None:  # noqa: N802, ANN001 (Qt's name)
        super().showEvent(ev)
        if not self.judge_chosen and self.task is None and self.session.judge:
            self.judge.set_name(self.session.judge)  # watch the judge whose pairs the reward model learned

    def _header(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        method = self.method.currentData()
        n = len([p for p in self.session.pairs if not p.tie])
        _reward, why = self.session.reward_for(ref)
        if method == "ppo":
            need = why or "PPO uses the reward model of the Feedback view" + (
                f" (held-out accuracy {self.session.reward_accuracy:.2f})" if self.session.reward_accuracy is not None
                else "")
        else:
            need = (f"DPO uses the {n:,} pairs of the Feedback view that are not ties" if n >= 2 else
                    "DPO needs 2 or more preference pairs that are not ties: give them in the Feedback view")
        self.needs.setText(need)
        other = self.session.made_from_other(ref)
        what = f"start model for {method.upper()}" if self.task is None else f"{method.upper()} from {self.start_name}"
        self.show_source(ref.label(), what + (f"; {other}" if other else ""))

    # --- the run ----------------------------------------------------------------------------------------

    def config(self) -> RlhfConfig:
        from engine.rlhf.train import RlhfConfig

        return RlhfConfig(**{"method": self.method.currentData(), "steps": self.steps.value(),
                             "minutes": self.minutes.value(), "beta": self.beta.value(), "lr": self.lr.value(),
                             "every": 10, **self.config_extra})

    def start(self) -> None:
        from engine.rlhf.judges import make_judge
        from engine.workspace import next_run_folder

        ref = self.ctx.model
        if ref is None:
            return
        method = self.method.currentData()
        reward, why = self.session.reward_for(ref)
        pairs = list(self.session.pairs)
        if method == "ppo" and reward is None:
            self.show_error(f"PPO needs a reward model: {why}")
            return
        if method == "dpo" and len([p for p in pairs if not p.tie]) < 2:
            self.show_error("DPO needs 2 or more preference pairs that are not ties: give them in the Feedback view "
                            "(or open a file of pairs there)")
            return
        try:
            judge = make_judge(self.judge.name()) if self.judge.name() else None
            cfg = self.config()
            cfg.out = str(next_run_folder(self.parent_folder, "rlhf"))
            cfg.check()
        except UserError as e:
            self.show_error(str(e))
            return
        handle = ref.handle

        def make(token):  # type: ignore[no-untyped-def]
            from engine.rlhf.train import RlhfTrainer

            trainer = RlhfTrainer(handle, cfg, reward=reward if method == "ppo" else None,
                                  pairs=pairs if method == "dpo" else None, judge=judge)
            for ev in trainer.run(token):
                if isinstance(ev, Finished):  # the policy stays in the engine thread: its folder crosses
                    ev = Finished(ev.summary, ev.stopped, ev.result.path)
                yield ev

        task = self.start_task(RLHF_TASK, make, self._events, self._finished, "RLHF training")
        if task is None:
            return
        self.task, self.folder, self.watch, self.start_name = task, None, None, ref.name
        self.curves.reset()
        self.curves.show_metric("judge", judge is not None)
        self.curves.show_metric("reward", method == "ppo" or reward is not None)
        self.table.setRowCount(0)
        self.use_btn.hide()
        self.progress.setRange(0, cfg.steps)
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText(f"{method.upper()} on {ref.name}: starting (reading the prompts)\u2026")
        self._buttons()
        self._header()

    def _control(self, action: str) -> None:
        if self.task is not None:
            getattr(self.task, action)()
            self.status.setText({"pause": "Paused.", "resume": "Running\u2026",
                                 "stop": "Stopping: the model so far is being saved\u2026"}[action])
            self._buttons()

    def _buttons(self) -> None:
        state = self.task.state if self.task is not None else ""
        self.start_btn.setEnabled(self.task is None)
        self.pause_btn.setEnabled(state == "running")
        self.resume_btn.setEnabled(state == "paused")
        self.stop_btn.setEnabled(state in ("running", "paused"))

    def _events(self, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, Progress):
                self.curves.add(ev.step, {k: ev.metrics.get(k) for k, _, _ in METRICS})
                self.progress.setValue(ev.step)
                m = ev.metrics
                said = ", ".join(f"{k} {m[k]:.3f}" for k in ("reward", "kl", "length", "judge", "dpo_loss",
                                                              "pair_accuracy") if k in m)
                self.status.setText(f"Step {ev.step:,} of {ev.total:,}: {said}")
            elif isinstance(ev, Snapshot):
                self.show_watch(ev.data)
            elif isinstance(ev, Saved):
                self.folder = ev.path
        self.mark_painted()

    def show_watch(self, w: Watch) -> None:
        self.watch = w
        self.table.setRowCount(len(w.prompts))
        for r, prompt in enumerate(w.prompts):
            values = (prompt.strip().replace("\n", " / "), line_text(w.before[r]), reward_text(w.reward_before[r]),
                      line_text(w.after[r]), reward_text(w.reward_after[r]))
            for c, v in enumerate(values):
                self.table.setItem(r, c, cell(v))
        self.table.setHorizontalHeaderLabels(["prompt", f"start model ({self.start_name})", "reward",
                                              f"tuned, step {w.step:,}", "reward"])
        self.table.resizeRowsToContents()

    def _finished(self, finished: Finished | None, error: str) -> None:
        self.task = None
        self.progress.hide()
        self.curves.redraw()
        self._buttons()
        if finished is None:
            self.status.setText("RLHF training failed." if error else "RLHF training ended before its first step.")
            self.show_error(f"RLHF training: {error}" if error else "RLHF training ended without a model")
        else:
            self.folder = finished.result if isinstance(finished.result, str) else self.folder
            s = finished.summary
            how = "stopped" if finished.stopped else "finished"
            said = ", ".join(f"{k} {s[k]:.3f}" for k in ("reward", "kl", "length", "judge") if k in s)
            where = f"; saved in <b>{short_path(self.folder)}</b>" if self.folder else ""
            self.status.setText(f"{s.get('method', '').upper()} {how} after {s.get('steps', 0):,} steps "
                                f"({s.get('seconds', 0):.0f} s): {said}{where}.")
            self.use_btn.setVisible(bool(self.folder))
            self.show_info(f"RLHF training {how}" + (f", saved in {short_path(self.folder)}" if self.folder else ""))
        self._header()
        self.mark_painted()

    def use_model(self) -> None:
        if self.folder and Path(self.folder).is_dir():
            self.ctx.open_model(self.folder, on_error=self.show_error)

    @property
    def settled(self) -> bool:
        return super().settled and self.task is None
