"""The Chat view: an instruct model answers, token by token, each token coloured by the probability the model
gave it; click an answer token to see, for every layer and head, which earlier tokens it attended to.

The conversation is plain data here (messages and the ids of each answer as generated); the model only ever
runs in the engine thread: an answer is one job that reports its tokens as they come (streamed to the
transcript at the bridge's 20 Hz), and Stop cancels it between two tokens.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app.colors import probability_color
from app.views.base import View
from app.views.chat.focus import FocusPlot
from app.widgets.names import named
from app.widgets.text import plural, shown_token
from engine.tasks import CancelToken

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef

CLICK_HINT = "Click a token of an answer to see which tokens it attended to."
CHAT_MODEL = "smollm2"  # what "Use SmolLM2" opens when the model in use cannot chat


@dataclass
class Turn:
    """One question and its answer: the answer's tokens as generated, with their probabilities."""

    question: str
    tokens: list[tuple[str, int, float]] = field(default_factory=list)  # (text, id, p) per answer token
    prompt_ids: list[int] = field(default_factory=list)  # the conversation up to the answer, as the model saw it
    done: bool = False
    stopped: bool = False

    @property
    def answer(self) -> str:
        return "".join(t for t, _, _ in self.tokens)


class ChatView(View):
    key = "chat"
    title = "Chat"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.turns: list[Turn] = []
        self.job = None
        self.answer_model = ""  # the model (and step) the answers are from
        self.turns_of = ""  # the key of the model the turns were with
        self.kept: dict[str, tuple[list[Turn], str]] = {}  # other models' conversations, back when they are
        self.notice = named(QLabel(), "chat.notice", "Why this model cannot chat")
        self.notice.setWordWrap(True)
        self.use_chat_btn = named(QPushButton("Use SmolLM2-135M-Instruct"), "chat.use-instruct",
                                  "Use the instruct model for chatting")
        self.use_chat_btn.clicked.connect(lambda: self.ctx.open_model(CHAT_MODEL, on_error=self.show_error))
        notice_row = QHBoxLayout()
        notice_row.addWidget(self.notice, 1)
        notice_row.addWidget(self.use_chat_btn)
        self.transcript = named(QTextBrowser(), "chat.transcript", "The conversation")
        self.transcript.setOpenLinks(False)
        self.transcript.anchorClicked.connect(self._token_clicked)
        self.transcript.highlighted.connect(self._token_hovered)
        self.input = named(QLineEdit(), "chat.input", "Your question")
        self.input.setPlaceholderText("Ask something, then Enter (e.g. What is the capital of France?)")
        self.send_btn = named(QPushButton("Send"), "chat.send", "Send the question")
        self.stop_btn = named(QPushButton("Stop"), "chat.stop", "Stop the answer")
        self.new_btn = named(QPushButton("New chat"), "chat.new", "Start a new conversation")
        self.temperature = named(QDoubleSpinBox(), "chat.temperature", "Temperature (0: greedy)")
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setSpecialValueText("0 (greedy)")
        self.max_new = named(QSpinBox(), "chat.max-new", "Most tokens in an answer")
        self.max_new.setRange(1, 2048)
        self.max_new.setValue(200)
        self.focus = named(FocusPlot(), "chat.focus", "Where the chosen token looked")
        self.focus_label = named(QLabel(CLICK_HINT),
                                 "chat.focus-label", "About the attention shown")
        self.focus_label.setWordWrap(True)
        self.focus_label.setMinimumHeight(3 * self.focus_label.fontMetrics().lineSpacing() + 4)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        for w in (self.send_btn, self.stop_btn):
            row.addWidget(w)
        options = QHBoxLayout()
        options.addWidget(QLabel("temperature"))
        options.addWidget(self.temperature)
        options.addWidget(QLabel("max tokens"))
        options.addWidget(self.max_new)
        options.addStretch(1)
        options.addWidget(self.new_btn)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.transcript, 1)
        ll.addLayout(row)
        ll.addLayout(options)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.focus_label)
        rl.addWidget(self.focus, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([620, 520])
        self.layout_.addLayout(notice_row)
        self.layout_.addWidget(split, 1)
        self.send_btn.clicked.connect(self.send)
        self.input.returnPressed.connect(self.send)
        self.stop_btn.clicked.connect(self.stop)
        self.new_btn.clicked.connect(self.new_chat)
        self.set_busy(False)
        self.show_source("loading the model\u2026")

    # --- the model -------------------------------------------------------------------------------

    def can_chat(self, ref: ModelRef | None) -> bool:
        return ref is not None and bool(ref.facts.get("chat"))

    def refresh(self) -> None:
        ref = self.ctx.model
        chat = self.can_chat(ref)
        self.notice.setVisible(not chat)
        self.use_chat_btn.setVisible(not chat)
        self.input.setEnabled(chat)
        self.send_btn.setEnabled(chat and self.job is None)
        if ref is None:
            return
        if not chat:
            self.notice.setText(f"{ref.name} has no chat template: it continues text rather than answering "
                                "questions (try it in Decoding). Chat with an instruct model:")
        if self.turns_of != ref.key:
            self._switch_conversation(ref)
        if not self.turns:
            self.show_source(ref.label(), "chat" if chat else "cannot chat")
        self.mark_painted()

    def _switch_conversation(self, ref: ModelRef) -> None:
        """Each model keeps its own conversation: another model's answers would not be its own, and switching
        models (to look at the default one, say) must not lose what was said; it is back when the model is."""
        if self.turns:
            self.kept[self.turns_of] = (self.turns, self.answer_model)
        self.turns, self.answer_model = self.kept.pop(ref.key, ([], ""))
        self.turns_of = ref.key
        self.focus.clear()
        self.focus_label.setText(CLICK_HINT)
        self.render()

    def model_changed(self, ref: ModelRef) -> None:
        self.stop()
        self.refresh()

    # --- asking ----------------------------------------------------------------------------------

    def messages(self, upto: int | None = None) -> list[dict[str, str]]:
        """The conversation as chat messages, up to (not including the answer of) turn ``upto``."""
        out: list[dict[str, str]] = []
        turns = self.turns if upto is None else self.turns[: upto + 1]
        for i, turn in enumerate(turns):
            out.append({"role": "user", "content": turn.question})
            if turn.done and (upto is None or i < upto):
                out.append({"role": "assistant", "content": turn.answer})
        return out

    def send(self) -> None:
        question = self.input.text().strip()
        ref = self.ctx.model
        if not question or self.job is not None or not self.can_chat(ref):
            return
        self.input.clear()
        turn = Turn(question)
        self.turns.append(turn)
        messages = self.messages()
        handle = ref.handle
        max_new, temperature = self.max_new.value(), self.temperature.value()
        self.answer_model = ref.label()

        def job(token: CancelToken) -> bool:
            from engine.chat import chat_ids, chat_stream

            token.report(("prompt", chat_ids(handle, messages)))
            for t in chat_stream(handle, messages, max_new=max_new, temperature=temperature, token=token):
                token.report(("token", (t.text, t.token_id, t.prob)))
            return True

        self.job = self.run(job, lambda _ok: self._answered(turn), key="answer", what="answering", cancellable=True,
                            on_partial=lambda parts: self._streamed(turn, parts),
                            on_error=lambda text: self._failed(turn, text))
        self.job_turn = turn
        self.set_busy(True)
        self.render()

    def _streamed(self, turn: Turn, parts: list[Any]) -> None:
        for kind, value in parts:
            if kind == "prompt":
                turn.prompt_ids = list(value)
            else:
                turn.tokens.append(value)
        self.render()

    def _answered(self, turn: Turn) -> None:
        turn.done = True
        self.job = None
        self.set_busy(False)
        self.render()
        self.mark_painted()

    def _failed(self, turn: Turn, text: str) -> None:
        turn.done, turn.stopped = True, True
        self.job = None
        if not turn.tokens and turn in self.turns:  # refused before a word (too long, say): the question comes
            self.turns.remove(turn)  # back to the input to be edited, and the conversation is as it was
            if not self.input.text():
                self.input.setText(turn.question)
        self.set_busy(False)
        self.show_error(text)
        self.render()

    def stop(self) -> None:
        job = self.job
        if job is not None:
            self.ctx.engine.cancel(job)
            turn = self.job_turn
            turn.done, turn.stopped = True, True  # what came so far stays, marked as stopped
            self.job = None
            self.set_busy(False)
            self.render()

    def new_chat(self) -> None:
        self.stop()
        self.turns = []
        self.focus.clear()
        self.focus_label.setText(CLICK_HINT)
        self.render()

    def set_busy(self, busy: bool) -> None:
        chat = self.can_chat(self.ctx.model)
        self.send_btn.setEnabled(chat and not busy)
        self.stop_btn.setEnabled(busy)

    # --- the transcript ----------------------------------------------------------------------------

    def render(self) -> None:
        parts = []
        for i, turn in enumerate(self.turns):
            parts.append(f"<p style='margin:8px 0 2px 0'><b>You:</b> {html.escape(turn.question)}</p>")
            spans = []
            for k, (text, _tid, p) in enumerate(turn.tokens):
                shown = html.escape(text).replace("\n", "<br>")
                colour = probability_color(p)
                spans.append(f"<a href='tok:{i}:{k}' style='text-decoration:none; color:#111; background:{colour}'>"
                             f"{shown or '&#8203;'}</a>")
            state = "" if turn.done and not turn.stopped else (" <i>(stopped)</i>" if turn.stopped else
                                                               " <i>\u2026</i>")
            parts.append(f"<p style='margin:0 0 8px 0'><b>Model:</b> {''.join(spans)}{state}</p>")
        legend = ("<p style='color:#667; font-size:small'>Each answer token is coloured by the probability the model "
                  "gave it: blue when it was sure (p near 1), cream at p = 0.5, salmon when it was unsure. Hover for "
                  "the probability, click to see where it looked.</p>") if self.turns else ""
        self.transcript.setHtml(f"<div style='font-size:11pt'>{''.join(parts)}{legend}</div>")
        self.transcript.verticalScrollBar().setValue(self.transcript.verticalScrollBar().maximum())
        ref = self.ctx.model
        if ref is not None and self.turns:
            n = sum(len(t.tokens) for t in self.turns)
            said = f"{plural(len(self.turns), 'question')}, {plural(n, 'answer token')}"
            self.show_source(self.answer_model or ref.label(), said)

    def _token_at(self, url: QUrl) -> tuple[int, int] | None:
        text = url.toString()
        if not text.startswith("tok:"):
            return None
        _, i, k = text.split(":")
        return int(i), int(k)

    def _token_hovered(self, url: QUrl) -> None:
        at = self._token_at(url)
        if at is None:
            return
        text, tid, p = self.turns[at[0]].tokens[at[1]]
        QToolTip.showText(self.cursor().pos(), f"{shown_token(text)!r} (id {tid}): p = {p:.3f}, "
                          f"log p = {math.log(max(p, 1e-300)):.2f}\nclick: where it looked", self)

    def _token_clicked(self, url: QUrl) -> None:
        at = self._token_at(url)
        ref = self.ctx.model
        if at is None or ref is None:
            return
        turn = self.turns[at[0]]
        if not turn.prompt_ids:
            return
        ids = turn.prompt_ids + [tid for _, tid, _ in turn.tokens[: at[1] + 1]]
        position = len(ids) - 1
        handle = ref.handle
        tokenizer = handle.tokenizer

        def job() -> tuple[list[str], Any]:
            from engine.focus import attention_row

            return [tokenizer.token_text(i) for i in ids], attention_row(handle.model, ids, position)

        def show(value: tuple[list[str], Any]) -> None:
            from engine.focus import most_attended

            tokens, rows = value
            chosen = shown_token(tokens[-1])
            self.focus.show_rows(tokens, rows)
            L, H, _ = rows.shape
            top = ", ".join(f"<b>{html.escape(shown_token(tokens[j]))}</b> {w:.2f}" for j, w in most_attended(rows))
            self.focus_label.setText(f"Where <b>{html.escape(chosen)}</b> (answer token {at[1] + 1} of question "
                                     f"{at[0] + 1}) looked: each row a head (layer by layer), each column an earlier "
                                     "token; brighter = more attention. Hover for the weight.<br>"
                                     f"Most attended, averaged over the {L * H} heads (the first token left out: "
                                     f"heads rest on it): {top}")
            self.mark_painted()

        self.run(job, show, key="focus", what="reading where it looked")
