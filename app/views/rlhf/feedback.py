"""The Feedback view: you are the human of RLHF (issue 17).

A prompt (a speaker and a line of verse from the corpus, or your own), two lines the model in use wrote after
it, side by side; you say which is better (or a tie, or skip), and each answer is a preference pair
(engine.rlhf.prefs.Pair, source "user"). A scripted judge (rhyme, metre, short, word:WORD) can add many pairs
at once as an engine task; pairs are saved and opened as JSONL. "Train reward model" fits a reward model to
the pairs (Bradley-Terry, engine.rlhf.reward) with its loss and held-out accuracy live, and "Score a line"
shows what it (and the judge) think of any line you type. The pairs and the reward model go to the RLHF
training view through the app's RlhfSession.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.views.base import View
from app.views.rlhf.session import session_of
from app.views.rlhf.widgets import Curves, JudgePicker, button, spin
from app.widgets.layout import column
from app.widgets.names import named
from engine.errors import UserError
from engine.events import Evaluation, Finished, Progress
from engine.rlhf.rollout import MAX_NEW

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef
    from engine.rlhf.prefs import Pair

JUDGE_TASK = "preference pairs from a judge"
REWARD_TASK = "reward model training"
MIN_PAIRS = 10


def one_line(text: str, n: int = 40) -> str:
    s = text.replace("\n", " \u21b5 ").strip()
    return s if len(s) <= n else s[:n - 1] + "\u2026"


class FeedbackView(View):
    key = "feedback"
    title = "Feedback"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.session = session_of(ctx)
        self.prompts: list[str] = []
        self.prompts_of = ""  # the corpus the prompts come from
        self.from_corpus = True  # the prompt is the corpus's (a new one after each answer), not the user's
        self.samples: tuple[str, str] | None = None
        self.samples_of: ModelRef | None = None
        self.draws = 0
        self.rng = random.Random(0)
        self.task: Any = None  # the judge's or the reward model's task while it runs
        # budgets (tests make them small)
        self.max_new = MAX_NEW
        self.judge_batch = 16
        self.reward_batch = 32
        self.eval_every = 100
        self.score_text = ""

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._build_feedback())
        split.addWidget(self._build_reward())
        split.setSizes([700, 520])
        self.layout_.addWidget(split, 1)
        self.session.pairsChanged.connect(self._pairs_changed)
        self.session.rewardChanged.connect(self._header)
        self._score_later = self.debounced(self.score_line, 250, self.line)
        self.show_source("loading the model\u2026")

    # --- building ------------------------------------------------------------------------------------

    def _build_feedback(self) -> QWidget:
        self.prompt = named(QPlainTextEdit(), "feedback.prompt", "Prompt",
                            "A speaker and a line of verse from the corpus, or your own prompt")
        self.prompt.setMaximumHeight(64)
        self.prompt.textChanged.connect(self._prompt_edited)
        self._setting_prompt = False
        self.new_prompt_btn = button("New prompt", "feedback.new-prompt", "Draw another prompt from the corpus",
                                     self.new_prompt)
        prow = QHBoxLayout()
        prow.addWidget(QLabel("prompt"))
        prow.addWidget(self.prompt, 1)
        prow.addWidget(self.new_prompt_btn, 0, Qt.AlignmentFlag.AlignTop)

        self.a_text = named(QPlainTextEdit(), "feedback.a", "Sample A")
        self.b_text = named(QPlainTextEdit(), "feedback.b", "Sample B")
        grid = QGridLayout()
        for col, (title, box) in enumerate((("A", self.a_text), ("B", self.b_text))):
            box.setReadOnly(True)
            box.setMaximumHeight(64)
            label = QLabel(f"<b>{title}</b>")
            grid.addWidget(label, 0, col)
            grid.addWidget(box, 1, col)
        self.a_btn = button("A is better", "feedback.a-better", "A is better", lambda: self.answer(1),
                            tip="Record that A is the better line, then draw the next pair")
        self.b_btn = button("B is better", "feedback.b-better", "B is better", lambda: self.answer(-1),
                            tip="Record that B is the better line, then draw the next pair")
        self.tie_btn = button("Tie", "feedback.tie", "Tie", lambda: self.answer(0),
                              tip="Record that the two lines are equally good")
        self.skip_btn = button("Skip: draw again", "feedback.skip", "Skip", self.draw,
                               tip="Record nothing and draw two new lines for the prompt")
        brow = QHBoxLayout()
        for b in (self.a_btn, self.b_btn, self.tie_btn, self.skip_btn):
            brow.addWidget(b)
        self.count = named(QLabel(), "feedback.count", "Pairs given")
        self.count.setWordWrap(True)

        judge_box = QGroupBox("Pairs from a scripted judge")
        self.judge = JudgePicker("feedback")
        self.judge.combo.currentIndexChanged.connect(lambda _: self.score_line())
        self.n_pairs = spin("feedback.judge-pairs", "Pairs to add", 1, 100_000, 2000,
                            "How many pairs the judge adds (two lines sampled per prompt, ties drawn again)")
        self.judge_btn = button("Add N pairs from the judge", "feedback.add-judge-pairs",
                                "Add pairs judged by the scripted judge", self.add_judge_pairs)
        self.cancel_btn = button("Cancel", "feedback.cancel-judge", "Cancel the judge's pairs", self.stop_task, False)
        self.judge_progress = named(QProgressBar(), "feedback.judge-progress", "Pairs made by the judge")
        self.judge_progress.hide()
        jform = QFormLayout(judge_box)
        jform.addRow("judge", self.judge)
        jrow = QHBoxLayout()
        jrow.addWidget(self.n_pairs)
        jrow.addWidget(self.judge_btn)
        jrow.addWidget(self.cancel_btn)
        jform.addRow("pairs", jrow)
        jform.addRow("", self.judge_progress)

        self.save_btn = button("Save pairs\u2026", "feedback.save", "Save the pairs as JSONL", self._save_dialog)
        self.open_btn = button("Open pairs\u2026", "feedback.open", "Open pairs from a JSONL file", self._open_dialog,
                               tip="Open pairs from a JSONL file (they replace the pairs given so far)")
        frow = QHBoxLayout()
        frow.addWidget(self.save_btn)
        frow.addWidget(self.open_btn)
        frow.addStretch(1)

        return column(prow, QLabel("Two lines the model in use wrote next. Which is better?"), grid, brow, self.count,
                      frow, judge_box, (QWidget(), 1))

    def _build_reward(self) -> QWidget:
        box = QGroupBox("Reward model")
        self.reward_steps = spin("feedback.reward-steps", "Reward model training steps", 1, 100_000, 400)
        self.train_btn = button("Train reward model", "feedback.train-reward",
                                "Train a reward model on the pairs (Bradley-Terry)", self.train_reward)
        self.stop_btn = button("Stop", "feedback.stop-reward", "Stop training the reward model", self.stop_task, False)
        row = QHBoxLayout()
        row.addWidget(QLabel("steps"))
        row.addWidget(self.reward_steps)
        row.addWidget(self.train_btn)
        row.addWidget(self.stop_btn)
        self.reward_status = named(QLabel("Give 10 or more pairs, then train a reward model on them."),
                                   "feedback.reward-status", "The reward model's held-out accuracy")
        self.reward_status.setWordWrap(True)
        self.reward_curve = named(Curves([("loss", "loss", "#4c72b0"),
                                          ("heldout_accuracy", "held-out accuracy", "#dd8452")]),
                                  "feedback.reward-curve", "Reward model loss and held-out accuracy")
        self.line = named(QLineEdit("And all the world shall be in love with night,"), "feedback.line",
                          "A line to score", "A line after the prompt: the reward model's score of it")
        self.score = named(QLabel(), "feedback.score", "The line's reward")
        self.score.setWordWrap(True)
        self.score.setTextFormat(Qt.TextFormat.RichText)
        score_box = QGroupBox("Score a line (after the prompt)")
        sl = QVBoxLayout(score_box)
        sl.addWidget(self.line)
        sl.addWidget(self.score)
        lay = QVBoxLayout(box)
        lay.addLayout(row)
        lay.addWidget(self.reward_status)
        lay.addWidget(self.reward_curve, 1)
        lay.addWidget(score_box)
        return box

    # --- the model and the prompt ------------------------------------------------------------------------

    def refresh(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        self._header()
        if self.prompts_of != self.ctx.corpus:
            self._load_prompts()
        elif self.samples_of is None or self.samples_of.key != ref.key or self.samples_of.step != ref.step:
            self.draw()
        self.score_line()

    def _header(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        s = self.session
        detail = s.describe_pairs()
        if s.reward_made_with is not None:
            acc = "" if s.reward_accuracy is None else f" (held-out accuracy {s.reward_accuracy:.2f})"
            detail += f"; reward model{acc}"
        other = s.made_from_other(ref)
        self.show_source(ref.label(), detail + (f"; {other}" if other else ""),
                         f"{ref.label()}\n{detail}\n{other}".strip())

    def _load_prompts(self) -> None:
        corpus = self.ctx.corpus

        def job() -> list[str]:
            from engine.rlhf.rollout import verse_prompts

            return verse_prompts(corpus, "train")

        def done(prompts: list[str]) -> None:
            self.prompts, self.prompts_of = prompts, corpus
            if self.from_corpus or not self.prompt.toPlainText().strip():
                self.new_prompt()
            else:
                self.draw()

        self.run(job, done, key="prompts", what="reading the verse prompts of the corpus")

    def _prompt_edited(self) -> None:
        if not self._setting_prompt:
            self.from_corpus = False

    def set_prompt(self, text: str, from_corpus: bool = False) -> None:
        self._setting_prompt = True
        self.prompt.setPlainText(text)
        self._setting_prompt = False
        self.from_corpus = from_corpus

    def new_prompt(self) -> None:
        if not self.prompts:
            self.show_error("no verse prompts yet: the corpus is still being read (or has none)")
            return
        self.set_prompt(self.rng.choice(self.prompts), from_corpus=True)
        self.draw()

    def draw(self) -> None:
        """Sample two lines after the prompt from the model in use (engine thread)."""
        ref, prompt = self.ctx.model, self.prompt.toPlainText()
        if ref is None:
            return
        if not prompt.strip():
            self.show_error("type a prompt, or press New prompt for one from the corpus")
            return
        handle, max_new, seed = ref.handle, self.max_new, self.draws
        self.draws += 1
        self.samples = None
        self._enable_answers()

        def job() -> tuple[str, str]:
            from engine.rlhf.rollout import sample_lines

            lines = sample_lines(handle.model, handle.tokenizer, [prompt], k=2, max_new=max_new,
                                 generator=torch.Generator().manual_seed(seed))
            return lines[0].text, lines[1].text

        self.run(job, lambda ab, r=ref, p=prompt: self._drawn(r, p, ab), key="draw", what="sampling two lines")

    def _drawn(self, ref: ModelRef, prompt: str, ab: tuple[str, str]) -> None:
        if prompt != self.prompt.toPlainText():
            return  # the prompt changed while sampling
        self.samples, self.samples_of = ab, ref
        self.a_text.setPlainText(ab[0])
        self.b_text.setPlainText(ab[1])
        self._enable_answers()
        self._header()
        self.mark_painted()

    def _enable_answers(self) -> None:
        for b in (self.a_btn, self.b_btn, self.tie_btn):
            b.setEnabled(self.samples is not None)

    # --- answers ----------------------------------------------------------------------------------------

    def answer(self, verdict: int) -> None:
        """+1: A is better, -1: B is better, 0: a tie. Records the pair, then draws the next one."""
        from engine.rlhf.prefs import Pair

        if self.samples is None:
            self.show_error("wait for the two lines to be sampled")
            return
        a, b = self.samples
        prompt = self.prompt.toPlainText()
        good, bad = (b, a) if verdict < 0 else (a, b)
        self.session.add_pairs([Pair(prompt, good, bad, verdict == 0, "user")], self.samples_of)
        if self.from_corpus and self.prompts:
            self.new_prompt()
        else:
            self.draw()

    def _pairs_changed(self) -> None:
        self.count.setText(f"<b>{self.session.describe_pairs()}</b>" if self.session.pairs else
                           "No pairs yet: each answer is one; a judge can add many.")
        if self.session.reward is None and self.task is None:  # what the reward model's box asks for now
            n = len(self.session.pairs)
            self.reward_status.setText(f"{n:,} pairs: train a reward model on them." if n >= 10 else
                                       f"Give 10 or more pairs ({n:,} so far), then train a reward model on them.")
        self._header()
        self.mark_painted()

    # --- the judge --------------------------------------------------------------------------------------

    def _start(self, name: str, make: Any, on_events: Any, on_finished: Any) -> bool:
        task = self.start_task(name, make, on_events, on_finished, "this")
        if task is None:
            return False
        self.task = task
        for b in (self.judge_btn, self.train_btn):
            b.setEnabled(False)
        (self.cancel_btn if name == JUDGE_TASK else self.stop_btn).setEnabled(True)
        return True

    def _ended(self) -> None:
        self.task = None
        for b in (self.judge_btn, self.train_btn):
            b.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        self.stop_btn.setEnabled(False)
        self.judge_progress.hide()

    def stop_task(self) -> None:
        if self.task is not None:
            self.task.stop()

    def add_judge_pairs(self) -> None:
        from engine.rlhf.judges import make_judge

        ref = self.ctx.model
        if ref is None:
            return
        try:
            judge = make_judge(self.judge.name())
        except UserError as e:
            self.show_error(str(e))
            return
        if not self.prompts:
            self.show_error("no verse prompts yet: the corpus is still being read (or has none)")
            return
        n, handle, prompts, batch, max_new = self.n_pairs.value(), ref.handle, self.prompts, self.judge_batch, \
            self.max_new
        seed = len(self.session.pairs) + self.draws

        def make(token):  # type: ignore[no-untyped-def]
            from engine.rlhf.prefs import judge_pairs

            yield from judge_pairs(handle.model, handle.tokenizer, judge, prompts, n, seed, max_new, batch, token)

        if self._start(JUDGE_TASK, make, self._judge_events, lambda f, e, r=ref: self._judged(r, f, e)):
            self.session.judge = judge.name
            self.judge_progress.setRange(0, n)
            self.judge_progress.setValue(0)
            self.judge_progress.show()
            self.show_info(f"the judge ({judge.describe()}) is comparing pairs\u2026")

    def _judge_events(self, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, Progress):
                self.judge_progress.setValue(ev.step)

    def _judged(self, ref: ModelRef, finished: Finished | None, error: str) -> None:
        self._ended()
        if finished is None:
            if error:
                self.show_error(f"the judge's pairs: {error}")
            else:
                self.show_info("the judge's pairs were cancelled; none added")
            return
        pairs: list[Pair] = finished.result or []
        self.session.add_pairs(pairs, ref)
        self.show_info(f"added {len(pairs):,} pairs from {finished.summary.get('judge')} "
                       f"({finished.summary.get('drawn', 0):,} drawn)")
        self.mark_painted()

    # --- files -------------------------------------------------------------------------------------------

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save preference pairs", "pairs.jsonl", "JSONL (*.jsonl)")
        if path:
            self.save_pairs(path)

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open preference pairs", "", "JSONL (*.jsonl);;All files (*)")
        if path:
            self.open_pairs(path)

    def save_pairs(self, path: str) -> None:
        if not self.session.pairs:
            self.show_error("no pairs to save yet")
            return
        pairs = list(self.session.pairs)

        def job() -> Path:
            from engine.rlhf.prefs import write_pairs

            return write_pairs(pairs, path)

        self.run(job, lambda p: self.show_info(f"saved {len(pairs):,} pairs to {p}"), key="save",
                 what="saving the pairs")

    def open_pairs(self, path: str) -> None:
        ref = self.ctx.model

        def job() -> list[Pair]:
            from engine.rlhf.prefs import read_pairs

            return read_pairs(path)

        def done(pairs: list[Pair]) -> None:
            self.session.set_pairs(pairs, ref)
            self.show_info(f"opened {len(pairs):,} pairs from {path}")

        self.run(job, done, key="open", what="reading the pairs")

    # --- the reward model ------------------------------------------------------------------------------

    def train_reward(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        pairs = list(self.session.pairs)
        if len(pairs) < MIN_PAIRS:
            self.show_error(f"{len(pairs)} pairs are too few to train a reward model: give {MIN_PAIRS} or more "
                            "(answer more, add pairs from a judge, or open a file)")
            return
        handle, steps, batch, every = ref.handle, self.reward_steps.value(), self.reward_batch, self.eval_every

        def make(token):  # type: ignore[no-untyped-def]
            from engine.rlhf.reward import train_reward_model

            yield from train_reward_model(handle, pairs, steps=steps, batch=batch, eval_every=every, token=token)

        if self._start(REWARD_TASK, make, self._reward_events, lambda f, e, r=ref: self._rewarded(r, f, e)):
            self.reward_curve.reset()
            self.reward_status.setText(f"Training a reward model on {len(pairs):,} pairs from {ref.name}\u2026")

    def _reward_events(self, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, Progress):
                self.reward_curve.add(ev.step, {"loss": ev.metrics.get("loss")})
                self.reward_status.setText(f"Reward model: step {ev.step:,} of {ev.total:,}, loss "
                                           f"{ev.metrics.get('loss', float('nan')):.3f}")
            elif isinstance(ev, Evaluation):
                acc = ev.metrics.get("heldout_accuracy")
                if acc is not None:
                    self.reward_curve.add(ev.step, {"heldout_accuracy": acc})

    def _rewarded(self, ref: ModelRef, finished: Finished | None, error: str) -> None:
        self._ended()
        if finished is None or finished.result is None:
            self.reward_status.setText("No reward model: " + (error or "stopped before it was made"))
            if error:
                self.show_error(f"the reward model: {error}")
            return
        acc = finished.summary.get("heldout_accuracy")
        self.session.set_reward(finished.result, ref, acc)
        info = finished.summary
        acc_text = "no held-out pairs that are not ties" if acc is None else f"held-out accuracy <b>{acc:.2f}</b>"
        self.reward_status.setText(f"Reward model of {ref.name}: {acc_text} ({info.get('train_pairs', 0):,} "
                                   f"training pairs, {info.get('heldout_pairs', 0):,} held out). "
                                   "It is ready for the RLHF training view.")
        self.reward_curve.redraw()
        self.score_line()
        self.mark_painted()

    def score_line(self) -> None:
        """The reward model's score (and the judge's) of the line typed, after the prompt."""
        ref, line, prompt = self.ctx.model, self.line.text(), self.prompt.toPlainText()
        reward, why = self.session.reward_for(ref)
        judge_name = self.judge.name()
        if not line.strip():
            self.score.setText("<i>Type a line to score.</i>")
            return

        def job() -> tuple[float | None, float | None]:
            from engine.rlhf.judges import make_judge

            r = reward.score(prompt, [line])[0] if reward is not None else None
            j = make_judge(judge_name).score(prompt, line) if judge_name else None
            return r, j

        def done(v: tuple[float | None, float | None]) -> None:
            r, j = v
            parts = [f"reward <b>{r:+.2f}</b> (0 is the average line the reward model was trained on; 1 is one "
                     "standard deviation better)" if r is not None else
                     f"<i>{why.replace(' in the Feedback view', ' above')}</i>"]
            if j is not None:
                parts.append(f"judge {judge_name}: <b>{j:.2f}</b>")
            self.score_text = "; ".join(parts)
            self.score.setText(self.score_text)
            self.mark_painted()

        self.run(job, done, key="score", what="scoring the line")

    # --- tests and the window ----------------------------------------------------------------------------

    @property
    def settled(self) -> bool:
        return super().settled and self.task is None
