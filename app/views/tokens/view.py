"""The Token view: the text coloured by token (ids on hover), and the vocabulary with frequencies.

Switching the tokenizer (the model's own, or char / word / BPE trained on the corpus) shows how the
same text splits."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSplitter,
    QTableView,
    QTextBrowser,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app.colors import TOKEN_BACKGROUNDS
from app.views.base import View
from app.widgets.names import named
from engine.tokenstats import Split, Vocabulary, split_text

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef

MAX_SHOWN = 5000  # tokens coloured at once; the rest is summarised
KINDS = [("model", "the model's own"), ("char", "char (trained on the corpus)"),
         ("word", "word (trained on the corpus)"), ("bpe", "BPE (trained on the corpus)")]
SAMPLE = "To be, or not to be: that is the question.\nHAMLET: Ay, so, God buy to you!"


class VocabModel(QAbstractTableModel):
    HEADERS = ["id", "token", "count"]

    def __init__(self) -> None:
        super().__init__()
        self.vocab = Vocabulary([], np.zeros(0, dtype=np.int64))

    def set_vocab(self, vocab: Vocabulary) -> None:
        self.beginResetModel()
        self.vocab = vocab
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008
        return len(self.vocab.tokens)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008
        return 3

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() != 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)  # numbers line up
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.UserRole):
            return None
        i = index.row()
        if index.column() == 0:
            return i
        if index.column() == 1:
            tok = self.vocab.tokens[i]
            if role == Qt.ItemDataRole.UserRole:
                return tok
            return "\u2423 (space)" if tok == " " else repr(tok)[1:-1]
        count = int(self.vocab.counts[i])
        return count if role == Qt.ItemDataRole.UserRole else f"{count:,}"  # sorting uses the number


class TokenText(QTextBrowser):
    """Text with one background colour per token; hovering shows the token's id and text.

    A byte-level BPE splits a rare character into several byte tokens that all point at the same character:
    the character is shown once, with its first token, and each further byte token as its byte ("<0x9D>") in
    small print, so every token has its own coloured piece and nothing is shown twice."""

    def __init__(self) -> None:
        super().__init__()
        self.setMouseTracking(True)
        self.split: Split | None = None
        self.widths: list[int] = []  # characters each token takes in the rendered document

    def show_split(self, text: str, split: Split) -> None:
        self.split = split
        parts, self.widths = [], []
        shown_to = 0  # the text is shown up to here
        for n, ((s, e), tid) in enumerate(zip(split.offsets[:MAX_SHOWN], split.ids[:MAX_SHOWN], strict=False)):
            bg = "#ffb3b3" if tid == -1 else TOKEN_BACKGROUNDS[n % len(TOKEN_BACKGROUNDS)]
            if s < shown_to:  # a further byte of a character already shown
                label = split.tokens[n].strip() or "·"
                parts.append(f'<span style="background:{bg}; font-size:8pt">{html.escape(label)}</span>')
                self.widths.append(len(label))
                continue
            raw = text[max(s, shown_to):e]
            shown_to = max(shown_to, e)
            piece = html.escape(raw).replace("\n", "\u21b5<br>").replace(" ", "&nbsp;")
            parts.append(f'<span style="background:{bg}">{piece}</span>')
            self.widths.append(len(raw) + raw.count("\n"))  # a newline is shown as an arrow and a line break
        more = f"<p><i>... {len(split.ids) - MAX_SHOWN} more tokens</i></p>" if len(split.ids) > MAX_SHOWN else ""
        self.setHtml(f'<div style="font-family:monospace; font-size:12pt">{"".join(parts)}</div>{more}')

    def token_at_char(self, pos: int) -> int | None:
        """Index of the token covering character ``pos`` of the displayed text."""
        shown = 0
        for k, width in enumerate(self.widths):
            if shown <= pos < shown + width:
                return k
            shown += width
        return None

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802
        super().mouseMoveEvent(ev)
        cursor = self.cursorForPosition(ev.position().toPoint())
        k = self.token_at_char(cursor.position())
        if k is not None and self.split is not None:
            tok = self.split.tokens[k]
            QToolTip.showText(ev.globalPosition().toPoint(), f"token {k}: id {self.split.ids[k]}  {tok!r}", self)


class TokensView(View):
    key = "tokens"
    title = "Tokens"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.input = named(QPlainTextEdit(SAMPLE), "tokens.text", "Text to split into tokens")
        self.input.setMaximumHeight(90)
        self.kind = named(QComboBox(), "tokens.tokenizer", "Tokenizer",
                          "the model's own tokenizer, or one trained on the corpus for comparison")
        for key, text in KINDS:
            self.kind.addItem(text, key)
        self.summary = named(QLabel(), "tokens.summary", "How the text splits")
        self.text = named(TokenText(), "tokens.coloured", "The text coloured by token")
        self.model = VocabModel()
        self.proxy = QSortFilterProxyModel()
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(1)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.table = named(QTableView(), "tokens.vocabulary", "Vocabulary with corpus counts")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)  # BPE/word tokens need the room
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.verticalHeader().setVisible(False)  # the id column already numbers the rows
        self.filter = named(QLineEdit(), "tokens.filter", "Filter the vocabulary")
        self.filter.setPlaceholderText("filter the vocabulary")
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.vocab_label = named(QLabel(), "tokens.vocabulary-label", "About the vocabulary")

        top = QHBoxLayout()
        top.addWidget(QLabel("tokenizer"))
        top.addWidget(self.kind)
        top.addWidget(self.summary, 1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.input)
        ll.addLayout(top)
        ll.addWidget(self.text, 1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.vocab_label)
        rl.addWidget(self.filter)
        rl.addWidget(self.table, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([700, 320])
        self.layout_.addWidget(split, 1)
        self._debounce = self.debounced(self.refresh, 150)
        self.input.textChanged.connect(self._debounce.start)
        self.kind.currentIndexChanged.connect(lambda _: self.refresh())
        ctx.corpusChanged.connect(lambda _c: self._corpus_changed())
        self._shown_vocab: tuple[Any, ...] | None = None
        self.show_source("loading the model\u2026")

    def _corpus_changed(self) -> None:
        if self.kind.currentData() != "model" and self.ctx.model is not None:  # trained on the corpus
            self.model_changed(self.ctx.model)

    def refresh(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        text, kind, corpus, ws = self.input.toPlainText(), str(self.kind.currentData()), self.ctx.corpus, \
            self.ctx.workspace
        handle = ref.handle

        def job() -> tuple:
            tok, counted = ws.tokenizer(handle, kind, corpus)
            return text, split_text(tok, text), ws.vocabulary_of(tok, counted), counted

        what = "splitting" if kind == "model" else f"training a {kind} tokenizer on {corpus} (once) and splitting"
        self.run(job, lambda v, r=ref, k=kind: self.show_split(r, k, *v), key="split", what=what)

    def show_split(self, ref: ModelRef, kind: str, text: str, split: Split, vocab: Vocabulary | None,
                   corpus: str) -> None:
        unk = f", {split.unknown} unknown" if split.unknown else ""
        self.summary.setText(f"{len(split.ids)} tokens for {len(text)} characters ({split.kind}{unk})")
        self.text.show_split(text, split)
        whose = ref.label() if kind == "model" else f"a {kind} tokenizer trained on {corpus}"
        self.show_source(whose, f"{len(split.ids)} tokens of {len(text)} characters")
        if vocab is not None and self._shown_vocab != (id(vocab), kind):
            self._shown_vocab = (id(vocab), kind)
            self.model.set_vocab(vocab)
            self.vocab_label.setText(f"vocabulary: {len(vocab.tokens):,} tokens ({split.kind}), counts in {corpus}")
        self.mark_painted()
