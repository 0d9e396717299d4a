"""The Fill-the-blank view: a masked language model (seed 001, Figure 11.5) fills every [MASK] of a sentence,
and GPT against BERT at one position shows the two objectives side by side: the next-token model reads only
the left context, p(x_i | x_<i), with a triangle of attention; the masked model reads both sides,
p(x_i | x_{j != i}), with a full square.

The masked model is the one in use (a run trained with the masked objective, or default-mlm, one click
away); the next-token side is default-bpe, trained with the same tokenizer, size and steps, so that a
position is the same token for both (engine.gptbert).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.views.attention.plots import AttentionDetail
from app.views.base import View
from app.widgets.bars import TopBars
from app.widgets.names import named
from app.widgets.text import plural, shown_token
from engine.errors import UserError
from engine.files import atomic_write_text
from engine.gptbert import GptVsBert, compare_at
from engine.tiles import masked

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef

MASKED_MODEL = "default-mlm"  # what "Use default-mlm" opens when the model in use is not a masked one
CAUSAL_TWIN = "default-bpe"  # the next-token model beside it: same tokenizer, size and steps
SAMPLE = "To be, or not to [MASK], that is the question."
MEAN = -1  # the head combo's "mean of the heads"


def is_masked(ref: ModelRef | None) -> bool:
    return ref is not None and ref.facts.get("objective") == "mlm"


class FillMaskView(View):
    key = "fill-mask"
    title = "Fill the blank"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.notice = named(QLabel(), "fill-mask.notice", "Why this model cannot fill blanks")
        self.notice.setWordWrap(True)
        self.use_btn = named(QPushButton(f"Use {MASKED_MODEL}"), "fill-mask.use-masked",
                             "Use the shipped masked language model")
        self.use_btn.clicked.connect(lambda: self.ctx.open_model(MASKED_MODEL, on_error=self.show_error))
        notice_row = QHBoxLayout()
        notice_row.addWidget(self.notice, 1)
        notice_row.addWidget(self.use_btn)

        self.text = named(QLineEdit(SAMPLE), "fill-mask.text", "A sentence with [MASK] blanks",
                          "Write [MASK] where a word is missing; several blanks are filled at once")
        self.fill_btn = named(QPushButton("Fill"), "fill-mask.fill", "Fill the blanks")
        self.top = named(QSpinBox(), "fill-mask.top", "Candidates per blank")
        self.top.setRange(3, 30)
        self.top.setValue(10)
        self.text.returnPressed.connect(self.refresh)
        self.fill_btn.clicked.connect(self.refresh)
        self.top.valueChanged.connect(lambda _v: self.refresh())
        row = QHBoxLayout()
        row.addWidget(QLabel("sentence"))
        row.addWidget(self.text, 1)
        row.addWidget(self.fill_btn)
        row.addWidget(QLabel("candidates"))
        row.addWidget(self.top)

        # the blanks: one chart of candidates each
        self.blanks_box = QWidget()
        self.blanks_layout = QVBoxLayout(self.blanks_box)
        self.blanks_layout.setContentsMargins(0, 0, 0, 0)
        self.blank_charts: list[TopBars] = []
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.blanks_box)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.blanks_label = named(QLabel(), "fill-mask.blanks-label", "What the masked model puts in each blank")
        self.blanks_label.setWordWrap(True)
        ll.addWidget(self.blanks_label)
        ll.addWidget(scroll, 1)

        # GPT vs BERT at one position
        self.sentence = named(QTextBrowser(), "fill-mask.sentence", "The sentence: click a token to compare there")
        self.sentence.setOpenLinks(False)
        self.sentence.anchorClicked.connect(self._token_clicked)
        self.sentence.setMaximumHeight(44)
        self.compare_label = named(QLabel(), "fill-mask.compare-label", "What the two models say")
        self.compare_label.setWordWrap(True)
        self.causal_bars = named(TopBars(150), "fill-mask.causal-bars", "The next-token model's prediction")
        self.masked_bars = named(TopBars(150), "fill-mask.masked-bars", "The masked model's prediction")
        for bars in (self.causal_bars, self.masked_bars):
            bars.setMaximumHeight(250)  # the attention pictures below need the room
        self.layer = named(QSpinBox(), "fill-mask.layer", "Layer of the attention pictures")
        self.head = named(QComboBox(), "fill-mask.head", "Head of the attention pictures")
        self.head.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer.valueChanged.connect(lambda _v: self.draw_attention())
        self.head.currentIndexChanged.connect(lambda _i: self.draw_attention())
        self.causal_att = named(AttentionDetail(), "fill-mask.causal-attention", "The next-token model's attention")
        self.masked_att = named(AttentionDetail(), "fill-mask.masked-attention", "The masked model's attention")
        pick = QHBoxLayout()
        pick.addWidget(QLabel("attention of layer"))
        pick.addWidget(self.layer)
        pick.addWidget(QLabel("head"))
        pick.addWidget(self.head)
        pick.addStretch(1)
        grid = QGridLayout()
        grid.addWidget(self.causal_bars, 0, 0)
        grid.addWidget(self.masked_bars, 0, 1)
        grid.addLayout(pick, 1, 0, 1, 2)
        grid.addWidget(self.causal_att, 2, 0)
        grid.addWidget(self.masked_att, 2, 1)
        grid.setRowStretch(2, 3)
        compare = QGroupBox("GPT vs BERT at one position: next token p(x_i | x_<i) beside masked p(x_i | every other)")
        cl = QVBoxLayout(compare)
        cl.addWidget(self.sentence)
        cl.addWidget(self.compare_label)
        cl.addLayout(grid, 1)

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(left)
        self.split.addWidget(compare)
        self.split.setSizes([330, 900])
        self.layout_.addLayout(notice_row)
        self.layout_.addLayout(row)
        self.layout_.addWidget(self.split, 1)
        self.filled: Any = None  # engine.mlm.FillMask of the text shown
        self.comparison: GptVsBert | None = None
        self.shown_text = ""
        self.show_source("loading the model\u2026")

    # --- the model -------------------------------------------------------------------------------

    def refresh(self) -> None:
        ref = self.ctx.model
        ok = is_masked(ref)
        self.notice.setVisible(not ok)
        self.use_btn.setVisible(not ok)
        self.split.setVisible(ok)  # no empty charts, no pictures of the model before
        for w in (self.text, self.fill_btn, self.top):
            w.setEnabled(ok)
        if ref is None:
            return
        if not ok:
            kind = "is an encoder without a masked-LM head" if ref.facts.get("causal") is False else \
                "predicts the next token (a causal model, like GPT)"
            self.notice.setText(f"{ref.name} {kind}: filling a blank needs a masked language model (like BERT), "
                                "trained to predict [MASK]ed tokens from both sides.")
            self._clear("")
            self.show_source(ref.label(), "cannot fill blanks")
            self.mark_painted()
            return
        self.fill(ref, self.text.text(), None)

    def fill(self, ref: ModelRef, text: str, position: int | None) -> None:
        handle, top, ws = ref.handle, self.top.value(), self.ctx.workspace

        def job() -> tuple[Any, GptVsBert | None, str]:
            from engine.mlm import fill_mask

            filled = fill_mask(handle.model, handle.tokenizer, text, top=top) if "[MASK]" in text else None
            try:
                twin = ws.open(CAUSAL_TWIN)
                comparison = compare_at(twin, handle, text, position, top=top)
                why = ""
            except UserError as e:
                comparison, why = None, str(e)
            return filled, comparison, why

        self.run(job, lambda v, r=ref, t=text: self.show_result(r, t, *v), key="fill",
                 what="filling the blanks and asking both models")

    def _token_clicked(self, url: QUrl) -> None:
        text = url.toString()
        ref = self.ctx.model
        if text.startswith("pos:") and is_masked(ref):
            self.fill(ref, self.shown_text, int(text[4:]))

    # --- the picture -----------------------------------------------------------------------------

    def _clear(self, why: str) -> None:
        for chart in self.blank_charts:
            chart.setParent(None)
        self.blank_charts = []
        self.blanks_label.setText(why)
        self.sentence.clear()
        self.compare_label.setText("")
        self.causal_bars.clear_bars()
        self.masked_bars.clear_bars()
        self.comparison = None
        self.filled = None

    def show_result(self, ref: ModelRef, text: str, filled: Any, comparison: GptVsBert | None, why: str) -> None:
        self._clear("")
        self.shown_text = text
        self.filled, self.comparison = filled, comparison
        if filled is None:
            self.blanks_label.setText("No [MASK] in the sentence: write [MASK] where a word is missing. Click a "
                                      "token on the right to compare the two models at any word.")
        else:
            n = len(filled.positions)
            self.blanks_label.setText(f"{n} blank{'s' if n != 1 else ''}: the {ref.name}'s candidates, each from "
                                      "both sides of the sentence")
            for k, (pos, cands) in enumerate(zip(filled.positions, filled.candidates, strict=True)):
                chart = named(TopBars(70 + 22 * len(cands)), f"fill-mask.blank-{k}", f"Candidates of blank {k + 1}")
                context = self._context(filled.tokens, pos)
                chart.show_top(cands, f"blank {k + 1}: {context}")
                self.blanks_layout.insertWidget(k, chart)
                self.blank_charts.append(chart)
        self.blanks_layout.addStretch(1)
        if comparison is None:
            self.compare_label.setText(why)
        else:
            self._show_comparison(comparison)
        detail = plural(len(filled.positions), "blank") if filled is not None else "no blanks"
        shown = text if len(text) <= 40 else text[:40] + "\u2026"
        self.show_source(ref.label(), f"\u201c{shown}\u201d ({detail})")
        self.mark_painted()

    @staticmethod
    def _context(tokens: list[str], pos: int) -> str:
        before = "".join(tokens[max(0, pos - 4):pos]).strip()
        after = "".join(tokens[pos + 1:pos + 5]).rstrip()
        return html.escape(f"\u2026{before} ____{after}\u2026")

    def _show_comparison(self, c: GptVsBert) -> None:
        spans = []
        for i, tok in enumerate(c.tokens):
            shown = html.escape(shown_token(tok)).replace(" ", "&nbsp;")
            style = "background:#fde2b8; font-weight:bold" if i == c.position else "background:#eef1f6"
            spans.append(f"<a href='pos:{i}' style='text-decoration:none; color:#111; {style}'>{shown}</a>")
        self.sentence.setHtml(f"<div style='font-size:12pt'>{'&#8203;'.join(spans)}</div>")
        at = "the blank" if c.true_token is None else f"\u201c{shown_token(c.true_token)}\u201d"
        if c.true_token is None:
            told = "Neither knows the answer: it is a blank."
        else:
            told = (f"p of \u201c{shown_token(c.true_token)}\u201d: {c.causal.name} {c.causal.p_true:.3f}, "
                    f"{c.masked.name} {c.masked.p_true:.3f}.")
        self.compare_label.setText(
            f"At {at} (token {c.position}): <b>{c.causal.name}</b> reads only the tokens before it; "
            f"<b>{c.masked.name}</b> reads both sides, with {at} replaced by [MASK]. {told} "
            "Click another token to compare there.")
        self.causal_bars.show_top(c.causal.top, f"{c.causal.name}: p(x_i | x_&lt;i)", c.true_token)
        self.masked_bars.show_top(c.masked.top, f"{c.masked.name}: p(x_i | every other token)", c.true_token)
        L, H = c.masked.attention.shape[:2]
        self.layer.blockSignals(True)
        self.head.blockSignals(True)
        self.layer.setRange(0, max(L, c.causal.attention.shape[0]) - 1)
        if self.head.count() != H + 1:
            self.head.clear()
            self.head.addItem("mean of the heads", MEAN)
            for h in range(H):
                self.head.addItem(f"head {h}", h)
        self.layer.blockSignals(False)
        self.head.blockSignals(False)
        self.draw_attention()

    def draw_attention(self) -> None:
        c = self.comparison
        if c is None:
            return
        layer, head = self.layer.value(), self.head.currentData()
        for side, plot, causal in ((c.causal, self.causal_att, True), (c.masked, self.masked_att, False)):
            att = side.attention[min(layer, side.attention.shape[0] - 1)]  # (H, T, T)
            mat = att.mean(0) if head in (None, MEAN) or head >= att.shape[0] else att[head]
            which = "mean of heads" if head in (None, MEAN) else f"head {head}"
            plot.show_matrix(masked(mat) if causal else mat, side.tokens, 0.0, float(np.nanmax(mat)) or 1.0,
                             f"{side.name}, layer {layer}, {which}", causal=causal)

    # --- export ------------------------------------------------------------------------------------

    def data_exports(self) -> dict:
        return {".json": self._write_json}

    def _write_json(self, path: Path) -> None:
        if self.filled is None and self.comparison is None:
            raise UserError("nothing to export yet: fill a sentence first")
        data = {"text": self.shown_text, "model": self.ctx.model.name if self.ctx.model else None}
        if self.filled is not None:
            data["tokens"] = self.filled.tokens
            data["positions"] = self.filled.positions
            data["candidates"] = [[[t, p] for t, p in c] for c in self.filled.candidates]
        if self.comparison is not None:
            data["gpt_vs_bert"] = self.comparison.to_json()
        atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False), "the blanks as JSON")
