"""The Logit lens view: what the model would predict if it ended after each layer.

The residual stream after layer l goes through the final norm and the unembedding, as the last layer's
output does (engine.interp.lens): a table with one row per layer (the embeddings on top, the model's own
output at the bottom) and one column per token of the text; each cell is the most probable token there,
its background by that probability (pale: unsure, deep blue: sure), bold when it is the token that really
comes next. Hover a cell for the top 5 and the probability of the actual next token.

A long text shows its last MAX_COLUMNS positions (said above the table); an encoder without an unembedding
(all-MiniLM-L6-v2) has nothing to read the stream with: the engine says so in the header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QLineEdit, QTableWidget, QTableWidgetItem

from app.colors import probability_color
from app.views.attention.view import quoted
from app.views.base import View
from app.widgets.names import named
from app.widgets.text import plural, shown_token
from engine.interp.lens import LogitLens, logit_lens
from engine.training import PROBE_TEXT

if TYPE_CHECKING:
    from app.context import AppContext

MAX_COLUMNS = 160
K = 5


def legend_html() -> str:
    cells = "".join(f"<td style='background:{probability_color(p / 10)}'>&nbsp;{p / 10:.1f}&nbsp;</td>"
                    for p in range(0, 11, 2))
    return f"<table cellspacing=0><tr><td>top token's p:&nbsp;</td>{cells}</tr></table>"


class LogitLensView(View):
    key = "logit-lens"
    title = "Logit lens"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.lens: LogitLens | None = None
        self.first = 0  # the position of the table's first column (a long text shows its last positions)
        self.text = named(QLineEdit(PROBE_TEXT), "logit-lens.text", "Text to read layer by layer")
        self.caption = named(QLabel(), "logit-lens.caption", "How to read the table")
        self.caption.setWordWrap(True)
        self.table = named(QTableWidget(), "logit-lens.table", "Top token of each layer at each position")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setFont(QFont("monospace", 9))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.legend = named(QLabel(legend_html()), "logit-lens.legend", "Colour of a probability")
        row = QHBoxLayout()
        row.addWidget(QLabel("text"))
        row.addWidget(self.text, 1)
        row.addWidget(self.legend)
        self.layout_.addLayout(row)
        self.layout_.addWidget(self.caption)
        self.layout_.addWidget(self.table, 1)
        self._debounce = self.debounced(self.refresh, 200, self.text)
        self.show_source("loading the model\u2026")

    def refresh(self) -> None:
        ref, text = self.ctx.model, self.text.text()
        if ref is None:
            return
        if not text:
            self.show_source(ref.label(), "type a text")
            return
        handle = ref.handle
        label = ref.label(handle.step) if ref.handle is not None else ref.name

        def job() -> tuple[str, LogitLens]:
            return label, logit_lens(handle.model, handle.tokenizer, text, k=K)

        def failed(message: str) -> None:  # no table of the last model or text stays under the message
            self.lens = None
            self.table.clear()
            self.table.setRowCount(0)
            self.table.setColumnCount(0)
            self.caption.setText("")
            self.show_source(label, f"text {quoted(text)}")
            self.show_error(message)

        self.run(job, lambda v, t=text: self.show_lens(*v, text=t), key="lens", what="reading every layer",
                 on_error=failed)

    def show_lens(self, model: str, lens: LogitLens, text: str) -> None:
        self.lens = lens
        T = len(lens.tokens)
        self.first = max(0, T - MAX_COLUMNS)
        cols = range(self.first, T)
        rows = len(lens.layers)
        nxt = lens.objective == "next"
        self.table.clear()
        self.table.setRowCount(rows)
        self.table.setColumnCount(len(cols))
        self.table.setVerticalHeaderLabels(lens.layers)
        self.table.setHorizontalHeaderLabels([f"{t}\n{shown_token(lens.tokens[t])}" for t in cols])
        bold = QFont("monospace", 9)
        bold.setBold(True)
        for r in range(rows):
            for c, t in enumerate(cols):
                p = float(lens.top_probs[r, t, 0])
                word = lens.top_tokens[r][t][0]
                item = QTableWidgetItem(shown_token(word))
                item.setBackground(QColor(probability_color(p)))
                item.setForeground(QColor("#111"))
                actual = lens.tokens[t + 1] if nxt and t + 1 < T else (lens.tokens[t] if not nxt else None)
                if actual is not None and word == actual:
                    item.setFont(bold)
                top = "\n".join(f"  {shown_token(w)!r}: {float(q):.4f}"
                                for w, q in zip(lens.top_tokens[r][t], lens.top_probs[r, t], strict=True))
                tp = lens.target_probs[r, t]
                what = (f"predicting the token after {shown_token(lens.tokens[t])!r}" if nxt else
                        f"reading the token {shown_token(lens.tokens[t])!r}")
                truth = ("" if actual is None or np.isnan(tp) else
                         f"\np({shown_token(actual)!r}, the actual {'next ' if nxt else ''}token) = {float(tp):.4f}")
                item.setToolTip(f"{lens.layers[r]}, position {t}, {what}\ntop {K}:\n{top}{truth}")
                self.table.setItem(r, c, item)
        self.table.scrollToItem(self.table.item(rows - 1, len(cols) - 1))
        self._fit_rows()
        cut = (f" The text is {plural(T, 'token')}: the table shows the last {len(cols)} positions "
               f"(scroll sideways), the first {self.first:,} are not shown." if self.first else "")
        dropped = f" Its first {lens.truncated:,} tokens do not fit the context and were left out." \
            if lens.truncated else ""
        read = ("Position t reads the tokens up to t and predicts token t + 1" if nxt else
                "A masked model: position t predicts the token at t from both sides")
        self.caption.setText(
            f"Rows: the residual stream after each layer read through the final norm and unembedding (the bottom "
            f"row is the model's own output). {read}. Background: the top token's probability (pale: unsure, "
            f"blue: sure); bold: it is the actual {'next ' if nxt else ''}token. Hover for the top {K}.{cut}{dropped}")
        self.show_source(model, f"text {quoted(text)} ({plural(T, 'token')}), {len(lens.layers) - 1} layers",
                         f"{model}\ntext: {text[:500]}")
        self.mark_painted()

    def _fit_rows(self) -> None:
        """Few layers: taller rows fill the view; many (SmolLM2's 31): 24 px each, scrolled."""
        rows = self.table.rowCount()
        if rows:
            room = self.table.viewport().height() or 400
            self.table.verticalHeader().setDefaultSectionSize(int(max(24, min(60, room / rows))))

    def resizeEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(ev)
        self._fit_rows()
