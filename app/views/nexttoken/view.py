"""The Next-token view: p(x_{t+1} | prompt) as bars (top 20, the rest summed) and the prompt's
per-token surprisal strip with the sentence log-probability (seed 000: p(x_1..x_T) = prod_t p(x_t | ...)).
Click a token of the strip to see the distribution the model had just before it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit

from app.colors import colormap
from app.views.base import View
from app.widgets.names import named
from app.widgets.text import shown_token
from engine.inference import NextTokenReport, next_token_report
from engine.tasks import CancelToken

if TYPE_CHECKING:
    from app.context import AppContext

TOP = 20


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
        handle = ref.handle

        def job(token: CancelToken) -> tuple[str, NextTokenReport]:
            return ref.label(handle.step), next_token_report(handle.model, handle.tokenizer, prompt, position, TOP,
                                                             token)

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

    def show_result(self, model: str, result: NextTokenReport, prompt: str) -> None:
        top = result.top
        labels = [shown_token(t) for t, _ in top] + ["(rest)"]
        probs = [p for _, p in top] + [result.rest]
        brushes = ["#dd8452" if result.actual == t else "#4c72b0" for t, _ in top] + ["#bbbbbb"]
        self.top_tokens = labels
        self.bar_item.setOpts(x0=np.zeros(len(probs)), y=np.arange(len(probs)), width=probs, brushes=brushes)
        ax = self.bars.getAxis("left")
        ax.setTicks([[(i, f"{lab!r}"[1:-1] if lab != "(rest)" else lab) for i, lab in enumerate(labels)]])
        ax.setStyle(tickFont=QFont("monospace", 9))
        ax.setTextPen("#222")  # the tokens are what the user reads: dark, not the axis grey
        self.bars.setXRange(0, max(probs) * 1.05 if probs else 1)
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
