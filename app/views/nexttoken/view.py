"""The Next-token view: p(x_{t+1} | prompt) as bars (top 20, the rest summed) and the prompt's
per-token surprisal strip with the sentence log-probability (seed 000: p(x_1..x_T) = prod_t p(x_t | ...)).
Click a token of the strip to see the distribution the model had just before it.

For a model tuned by RLHF (its config names the start model: engine.rlhf.train.RlhfTrainer.save) the start
model's probabilities of the same tokens are drawn beside the tuned model's, so the shift is visible."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit

from app.colors import colormap
from app.views.base import View
from app.widgets.names import named
from app.widgets.text import shown_token
from engine.errors import UserError
from engine.inference import NextTokenReport, next_token_report
from engine.tasks import CancelToken

if TYPE_CHECKING:
    from app.context import AppContext

TOP = 20
WIDE = 2000  # tokens of each distribution read to match the two models' bars
AFTER, BEFORE = "#4c72b0", "#c44e52"


@dataclass
class BeforeAfter:
    """The tuned model's and its start model's probabilities of the same next tokens."""

    start: str  # the start model, as the user reads it
    rows: list[tuple[str, float, float]]  # token, p after (tuned), p before (start model)
    note: str = ""  # why there are no rows (the start model could not be opened)


def rlhf_start(config: dict[str, Any]) -> str | None:
    """The start model's folder of an RLHF-tuned checkpoint (None for any other model)."""
    rlhf = config.get("rlhf")
    start = rlhf.get("start") if isinstance(rlhf, dict) else None
    return str(start) if start else None


def before_after(ws: Any, handle: Any, prompt: str, position: int, token: CancelToken) -> BeforeAfter | None:
    """Engine thread: the tuned model's top tokens (and the start model's best five) with both probabilities."""
    from app.context import ref_for

    folder = rlhf_start(handle.config)
    if folder is None:
        return None
    try:
        start = ws.open(folder)
    except UserError as e:
        return BeforeAfter(folder, [], f"the start model {folder} could not be opened: {e}")
    if start.tokenizer.vocab_size != handle.tokenizer.vocab_size:
        return BeforeAfter(folder, [], f"the start model {folder} has another vocabulary")
    wide = min(WIDE, handle.model.cfg.vocab_size)
    after = dict(next_token_report(handle.model, handle.tokenizer, prompt, position, wide, token).top)
    before = dict(next_token_report(start.model, start.tokenizer, prompt, position, wide, token).top)
    extra = [t for t in list(before)[:5] if t not in list(after)[:TOP]]
    tokens = list(after)[:TOP - len(extra)] + extra
    return BeforeAfter(ref_for(start).name, [(t, after.get(t, 0.0), before.get(t, 0.0)) for t in tokens])


class NextTokenView(View):
    key = "next-token"
    title = "Next token"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.prompt = named(QLineEdit("To be, or not to be: that is the qu"), "next-token.prompt", "Prompt")
        self.summary = named(QLabel(), "next-token.summary", "Sentence probability")
        self.summary.setWordWrap(True)
        self.bars = named(pg.PlotWidget(background="w"), "next-token.bars", "Next-token probabilities")
        self.bars.setLabel("bottom", "probability")
        self.bars.getAxis("bottom").enableAutoSIPrefix(False)
        self.bars.invertY(True)
        self.bars.setMouseEnabled(x=False, y=False)
        self.bar_item = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brush="#4c72b0")
        self.bars.addItem(self.bar_item)
        self.before_item = pg.BarGraphItem(x0=[], y=[], height=0.38, width=[], brush=BEFORE)
        self.bars.addItem(self.before_item)
        self.compare = named(QLabel(), "next-token.before-after", "Before and after RLHF")
        self.compare.setTextFormat(Qt.TextFormat.RichText)
        self.compare.hide()
        self.before_after: BeforeAfter | None = None
        self.strip = named(pg.PlotWidget(background="w"), "next-token.strip", "Surprisal of each prompt token")
        self.strip.setMaximumHeight(150)
        self.strip.setLabel("left", "surprisal (bits)")
        self.strip.setMouseEnabled(x=True, y=False)
        self.strip_bars = pg.BarGraphItem(x=[], height=[], width=0.85, brushes=[])
        self.strip_bars.setOpts(name="surprisal")
        self.strip.addItem(self.strip_bars)
        self.strip.scene().sigMouseClicked.connect(self._strip_clicked)
        self.strip_labels: list[pg.TextItem] = []
        self.position = -1
        self.tokens: list[str] = []
        self.top_tokens: list[str] = []
        row = QHBoxLayout()
        row.addWidget(QLabel("prompt"))
        row.addWidget(self.prompt, 1)
        self.layout_.addLayout(row)
        self.layout_.addWidget(self.summary)
        self.layout_.addWidget(self.compare)
        self.layout_.addWidget(self.bars, 1)
        self.layout_.addWidget(self.strip)
        self._debounce = self.debounced(self.refresh, 150)
        self.prompt.textChanged.connect(lambda _: self._reset_position())
        self.show_source("loading the model\u2026")

    def _reset_position(self) -> None:
        self.position = -1
        self._debounce.start()

    def refresh(self) -> None:
        ref, prompt, position = self.ctx.model, self.prompt.text(), self.position
        if ref is None:
            return
        if not prompt:
            self.show_source(ref.label(), "type a prompt")
            return
        handle, ws = ref.handle, self.ctx.workspace

        def job(token: CancelToken) -> tuple[str, NextTokenReport, BeforeAfter | None]:
            report = next_token_report(handle.model, handle.tokenizer, prompt, position, TOP, token)
            return ref.label(handle.step), report, before_after(ws, handle, prompt, position, token)

        self.run(job, lambda v, p=prompt: self.show_result(*v, prompt=p), key="analyse",
                 what="scoring the prompt", cancellable=len(prompt) > 500)

    def _strip_clicked(self, ev) -> None:
        if not self.tokens:
            return
        x = self.strip.getPlotItem().vb.mapSceneToView(ev.scenePos()).x()
        k = int(round(x))
        if 0 <= k < len(self.tokens):
            self.position = k
            self.refresh()

    def show_result(self, model: str, result: NextTokenReport, compared: BeforeAfter | None, prompt: str) -> None:
        self.before_after = compared
        if compared is not None and compared.rows:
            top = [(t, p) for t, p, _ in compared.rows]
            before = [b for _, _, b in compared.rows]
            before.append(max(0.0, 1.0 - sum(before)))
            rest = max(0.0, 1.0 - sum(p for _, p in top))
        else:
            top, before, rest = result.top, [], result.rest
        labels = [shown_token(t) for t, _ in top] + ["(rest)"]
        probs = [p for _, p in top] + [rest]
        brushes = ["#dd8452" if result.actual == t else AFTER for t, _ in top] + ["#bbbbbb"]
        self.top_tokens = labels
        y = np.arange(len(probs), dtype=float)
        if before:  # two bars a token: the tuned model's above, the start model's below
            self.bar_item.setOpts(x0=np.zeros(len(probs)), y=y - 0.2, height=0.38, width=probs, brushes=brushes)
            self.before_item.setOpts(x0=np.zeros(len(before)), y=y + 0.2, width=before)
            self.compare.setText(f"<span style='color:{AFTER}'>\u25a0</span> after (tuned: {model}) &nbsp; "
                                 f"<span style='color:{BEFORE}'>\u25a0</span> before (start model: {compared.start}) "
                                 "&nbsp; the same prompt, the same tokens")
        else:
            self.bar_item.setOpts(x0=np.zeros(len(probs)), y=y, height=0.7, width=probs, brushes=brushes)
            self.before_item.setOpts(x0=[], y=[], width=[])
            self.compare.setText(compared.note if compared is not None else "")
        self.compare.setVisible(compared is not None)
        widest = max(probs + before)
        ax = self.bars.getAxis("left")
        ax.setTicks([[(i, f"{lab!r}"[1:-1] if lab != "(rest)" else lab) for i, lab in enumerate(labels)]])
        ax.setStyle(tickFont=QFont("monospace", 9))
        ax.setTextPen("#222")  # the tokens are what the user reads: dark, not the axis grey
        self.bars.setXRange(0, widest * 1.05 if widest > 0 else 1)
        self.bars.setYRange(-0.5, len(probs) - 0.5)
        # surprisal strip
        self.tokens = result.tokens
        # a first token that nothing predicts (a model without a start token) has no probability: NaN
        bits = np.array([math.nan if math.isnan(p) else -math.log2(max(p, 1e-300)) for p in result.probs])
        scored = bits[~np.isnan(bits)]
        cmap = colormap()
        hi = max(8.0, float(scored.max()) if len(scored) else 1.0)
        brushes = [pg.mkBrush("#d0d4da") if math.isnan(b) else pg.mkBrush(cmap.map(min(b / hi, 1.0), mode="qcolor"))
                   for b in bits]
        bits = np.nan_to_num(bits, nan=0.0)
        if 0 <= result.position < len(brushes):
            brushes[result.position] = pg.mkBrush("#d62728")
        self.strip_bars.setOpts(x=np.arange(len(bits)), height=bits, brushes=brushes)
        for item in self.strip_labels:
            self.strip.removeItem(item)
        self.strip_labels = []
        for k, tok in enumerate(self.tokens[:400]):
            t = pg.TextItem(shown_token(tok), anchor=(0.5, 0), color="#222")
            t.setFont(QFont("monospace", 8))
            t.setPos(k, 0)
            self.strip.addItem(t)
            self.strip_labels.append(t)
        self.strip.getPlotItem().vb.setRange(QRectF(-0.6, -1.5, min(len(bits), 80) + 0.2, hi + 1.5), padding=0)
        n = len(result.probs)
        unscored = sum(1 for p in result.probs if math.isnan(p))
        k = result.position
        p_k = result.probs[k] if k >= 0 else math.nan
        had = "which nothing predicts: the model has no start token" if math.isnan(p_k) else f"which had p = {p_k:.4f}"
        where = ("after the whole prompt" if k < 0 else f"before token {k} ({shown_token(self.tokens[k])!r}, {had})")
        what = (f"log p(x_1..x_{n})" if not unscored else
                f"log p(x_2..x_{n} | x_1) (the model has no start token, so nothing predicts x_1)")
        self.summary.setText(
            f"Next token {where}.   Sentence: {what} = {result.logprob:.3f} nats "
            f"= {result.logprob / math.log(2):.2f} bits; perplexity "
            f"{math.exp(-result.logprob / max(n - unscored, 1)):.2f}. "
            "Click a token below to see the distribution before it.")
        self.summary.setAlignment(Qt.AlignmentFlag.AlignLeft)
        T = self.ctx.model.facts.get("context", 0) if self.ctx.model is not None else 0
        if T and n > T:  # strided beyond the context (engine.inference.score_text)
            self.summary.setText(self.summary.text() + f" Beyond the context of {T}, each token is scored with at "
                                 f"least {T - result.stride} tokens before it.")
        one_line = prompt.replace("\n", " \u21b5 ")
        shown = one_line if len(one_line) <= 48 else one_line[:47] + "\u2026"
        self.show_source(model, f"prompt \u201c{shown}\u201d ({n} tokens), {where}", f"{model}\nprompt: {prompt[:500]}")
        self.mark_painted()
