"""The Decoding view: beam search as the tree it searched (seed 001, Figure 10.10), and sampling.

Beam tree (app.views.decoding.beam_tree): drawn left to right, one column per generated token, one row per kept
hypothesis. Each node shows its token and the cumulative log-probability where they fit (more as you
zoom in); hovering gives the normalised score cum / length^alpha. Kept hypotheses are solid, pruned
candidates faded stubs, finished ones squares with their n-best rank; the greedy path is overlaid in
orange, with a marker where it leaves the beam; the n-best table below highlights the selected
hypothesis in the tree. "Next step" expands one step; clicking any node forces that prefix and decoding
continues from it. Scroll to zoom, drag to pan, "Fit" shows it all.

Sampling: the next-token distribution before and after temperature, with the tokens that top-k and
top-p cut off shaded, and several seeded samples side by side, each marked where it leaves the greedy
path.

The BeamSearch object lives in the engine thread; the view only ever receives copies of its tree.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.views.base import View
from app.views.decoding.beam_tree import BeamTreePlot, visible
from app.widgets.names import named
from app.widgets.text import shown_token
from engine.decoding.cli import unescape
from engine.decoding.sampling import next_token_panel, samples
from engine.decoding.search import BeamSearch, TreeState, tree_state
from engine.tasks import CancelToken

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef
from engine.errors import UserError

ENDED = {"eos": "end token", "length": "length limit"}


class SamplingPanel(QWidget):
    """Bars before and after temperature with the top-k / top-p cut-offs, and seeded samples."""

    def __init__(self) -> None:
        super().__init__()
        self.temperature = named(QDoubleSpinBox(), "decoding.temperature", "Temperature")
        self.temperature.setRange(0.0, 5.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(1.0)
        self.top_k = named(QSpinBox(), "decoding.top-k", "Top-k")
        self.top_k.setRange(0, 100_000)
        self.top_k.setSpecialValueText("off")
        self.top_p = named(QDoubleSpinBox(), "decoding.top-p", "Top-p")
        self.top_p.setRange(0.01, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setValue(1.0)
        self.n = named(QSpinBox(), "decoding.samples", "Number of samples")
        self.n.setRange(1, 16)
        self.n.setValue(4)
        self.seed = named(QSpinBox(), "decoding.seed", "Random seed")
        self.seed.setRange(0, 1_000_000)
        self.run = named(QPushButton("Sample"), "decoding.sample", "Draw samples")
        form = QHBoxLayout()
        for label, w in (("temperature", self.temperature), ("top-k", self.top_k), ("top-p", self.top_p),
                         ("samples", self.n), ("seed", self.seed)):
            form.addWidget(QLabel(label))
            form.addWidget(w)
        form.addWidget(self.run)
        form.addStretch(1)
        self.bars = named(pg.PlotWidget(background="w"), "decoding.sampling-bars", "Next-token probabilities")
        self.bars.addLegend(offset=(-10, 10))
        self.bars.setLabel("left", "probability")
        self.bars.getAxis("left").enableAutoSIPrefix(False)
        self.before = pg.BarGraphItem(x=[], height=[], width=0.4, brush="#9ecae1", name="model (T = 1)")
        self.after = pg.BarGraphItem(x=[], height=[], width=0.4, brush="#3182bd", name="after temperature")
        self.cut = pg.BarGraphItem(x=[], height=[], width=0.85, brush=(214, 39, 40, 45), pen=None,
                                   name="cut by top-k / top-p")
        for item in (self.cut, self.before, self.after):
            self.bars.addItem(item)
        self.summary = named(QLabel(), "decoding.sampling-summary", "What temperature, top-k and top-p keep")
        self.source = named(QLabel("Press Sample to draw samples."), "decoding.sampling-source",
                            "What the samples are of")
        self.texts = named(QTextBrowser(), "decoding.sampling-texts", "The samples")
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.source)
        lay.addWidget(self.summary)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.bars)
        split.addWidget(self.texts)
        lay.addWidget(split, 1)
        self.shown_tokens: list[str] = []

    def show_result(self, result: dict) -> None:
        panel, path, outs = result["panel"], result["greedy"], result["samples"]
        ids = [t for t in panel.order[:30] if panel.tempered[t] > 0 or panel.probs[t] > 1e-4]
        x = np.arange(len(ids))
        self.before.setOpts(x=x - 0.2, height=panel.probs[ids])
        self.after.setOpts(x=x + 0.2, height=panel.tempered[ids])
        cut = [i for i, t in enumerate(ids) if not panel.keep_top_p[t]]
        top = float(max(panel.probs[ids].max(), panel.tempered[ids].max())) if ids else 1.0
        self.cut.setOpts(x=np.array(cut, dtype=float), height=np.full(len(cut), top * 1.05))
        self.shown_tokens = [panel.tokens[t] for t in ids]
        ax = self.bars.getAxis("bottom")
        ax.setTicks([[(i, repr(shown_token(panel.tokens[t]))[1:-1]) for i, t in enumerate(ids)]])
        kept = int(panel.keep_top_p.sum())
        self.summary.setText(f"temperature {panel.temperature:g}, top-k {panel.top_k or 'off'}, top-p "
                             f"{panel.top_p:g}: {kept} tokens can be drawn; shaded bars are cut off.")
        rows = [f"<p><b>greedy</b>: {html.escape(path.generated)}</p>"]
        for s in outs:
            gen = s.generation
            at = s.leaves_greedy_at
            if at is None:
                body = html.escape(gen.generated) + " <i>(same as greedy)</i>"
            else:
                head = html.escape("".join(gen.tokens[:at]))
                tail = html.escape("".join(gen.tokens[at:]))
                body = f'{head}<span style="background:#ffe08a">{tail}</span>'
            where = "never leaves greedy" if at is None else f"leaves greedy at token {at}"
            rows.append(f"<p><b>seed {s.seed}</b> ({where}, log p = {gen.cum_logprob:.2f}): {body}</p>")
        self.texts.setHtml('<div style="font-family:monospace">' + "".join(rows) + "</div>")


class NBestTable(QTableWidget):
    """The n-best list: rank, text (newlines visible), score, log p, length and why it ended."""

    COLUMNS = ("#", "generated text", "score", "log p", "length", "ended by")

    def __init__(self) -> None:
        super().__init__(0, len(self.COLUMNS))
        self.setHorizontalHeaderLabels(self.COLUMNS)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(20)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        head = self.horizontalHeader()
        for c in range(len(self.COLUMNS)):
            head.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.mono = QFont("DejaVu Sans Mono", 9)

    def show_hypotheses(self, state: TreeState) -> None:
        """Fill the table and select the best hypothesis (the tree highlights it)."""
        self.blockSignals(True)
        self.clearSelection()
        self.setRowCount(len(state.nbest))
        for r, h in enumerate(state.nbest):
            length = state.nodes[h["node"]]["step"]
            cells = (f"{r + 1}", h["generated"].replace("\n", "\u21b5").replace("\t", "\u21e5"),
                     f"{h['score']:.4f}", f"{h['logprob']:.2f}", f"{length}", ENDED.get(h["end"], h["end"]))
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1:
                    item.setFont(self.mono)
                    item.setToolTip(f"{state.prompt}{h['generated']}")
                else:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(r, c, item)
        self.blockSignals(False)
        if state.nbest:
            self.selectRow(0)  # (with none, the tree was drawn with nothing selected)


class DecodingView(View):
    key = "decoding"
    title = "Decoding"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.search: BeamSearch | None = None  # lives in the engine thread; touched only by jobs
        self.search_model = ""  # the model (and step) the search runs on
        self.state: TreeState | None = None
        self.sampled = False  # the Sampling tab has been run (it is redone when the model changes)
        self.prompt = named(QLineEdit("HAMLET:\\nTo be, or not to be"), "decoding.prompt", "Prompt",
                            "\\n stands for a new line")
        self.k = named(QSpinBox(), "decoding.k", "Beam width k")
        self.k.setRange(1, 64)
        self.k.setValue(5)
        self.alpha = named(QDoubleSpinBox(), "decoding.alpha", "Length penalty alpha")
        self.alpha.setRange(0.0, 3.0)
        self.alpha.setSingleStep(0.1)
        self.alpha.setValue(1.0)
        self.max_new = named(QSpinBox(), "decoding.max-new", "Most tokens to generate")
        self.max_new.setRange(1, 500)
        self.max_new.setValue(30)
        self.eos = named(QLineEdit("\\n"), "decoding.eos", "End of sequence",
                         "end-of-sequence text (a token, or a short string for char models); empty: none")
        self.early = named(QComboBox(), "decoding.early-stopping", "Early stopping")
        self.early.addItems(["heuristic", "true", "never"])
        self.run_btn = named(QPushButton("Run beam search"), "decoding.run", "Run beam search")
        self.new_btn = named(QPushButton("New search"), "decoding.new", "New search, one step at a time")
        self.step_btn = named(QPushButton("Next step"), "decoding.step", "Expand one step")
        self.status = named(QLabel(), "decoding.status", "About the search")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the window
        self.fit_btn = named(QPushButton("Fit"), "decoding.fit", "Show the whole tree",
                             "show the whole tree (scroll to zoom, drag to pan)")
        self.nbest = named(NBestTable(), "decoding.nbest", "The n-best hypotheses")
        self.tree = named(BeamTreePlot(self.force), "decoding.tree", "The beam search tree")
        self.fit_btn.clicked.connect(self.tree.fit)
        self.nbest.itemSelectionChanged.connect(self._nbest_selected)
        self.sampling = SamplingPanel()

        controls = QHBoxLayout()
        controls.addWidget(QLabel("prompt"))
        controls.addWidget(self.prompt, 1)
        for label, w in (("k", self.k), ("alpha", self.alpha), ("max new", self.max_new), ("eos", self.eos),
                         ("early stopping", self.early)):
            controls.addWidget(QLabel(label))
            controls.addWidget(w)
        buttons = QHBoxLayout()
        for b in (self.run_btn, self.new_btn, self.step_btn, self.fit_btn):
            buttons.addWidget(b)
        for fmt in ("png", "svg", "json"):
            b = named(QPushButton(f"Export {fmt.upper()}"), f"decoding.export-{fmt}", f"Export {fmt.upper()}")
            b.clicked.connect(lambda _=False, f=fmt: self.export_dialog(f))
            buttons.addWidget(b)
        buttons.addWidget(self.status, 1)
        side = QGroupBox("n-best (score = sum log p / length^alpha); select one to see its path in the tree")
        sl = QVBoxLayout(side)
        sl.setContentsMargins(4, 2, 4, 4)
        sl.addWidget(self.nbest)
        self.beam_page = QSplitter(Qt.Orientation.Vertical)
        self.beam_page.addWidget(self.tree)
        self.beam_page.addWidget(side)
        self.beam_page.setStretchFactor(0, 1)
        self.beam_page.setSizes([520, 240])
        self.table_sized_by_user = False
        self.beam_page.splitterMoved.connect(lambda *_: setattr(self, "table_sized_by_user", True))
        self.tabs = named(QTabWidget(), "decoding.pages", "Beam search or sampling")
        self.tabs.addTab(self.beam_page, "Beam search")
        self.tabs.addTab(self.sampling, "Sampling")
        self.layout_.addLayout(controls)
        self.layout_.addLayout(buttons)
        self.layout_.addWidget(self.tabs, 1)
        self.run_btn.clicked.connect(lambda: self.start(run=True))
        self.new_btn.clicked.connect(lambda: self.start(run=False))
        self.step_btn.clicked.connect(self.next_step)
        self.sampling.run.clicked.connect(self.request_sampling)
        self._started = False
        self.show_source("loading the model\u2026")

    # --- the contract ------------------------------------------------------------------------

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        if not self._started and self.ctx.model is not None:
            self._started = True
            self.start(run=True)

    def refresh(self) -> None:
        self._started = True
        self.start(run=True)
        if self.sampled:
            self.request_sampling()

    def model_changed(self, ref: ModelRef) -> None:
        if self._started or self.isVisible():
            super().model_changed(ref)

    def _eos(self) -> list[str] | None:
        text = unescape(self.eos.text())
        return [text] if text else None

    def prompt_text(self) -> str:
        return unescape(self.prompt.text())

    # --- beam search (jobs run in the engine thread) ------------------------------------------

    def start(self, run: bool) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        handle = ref.handle
        prompt, k, alpha, max_new = self.prompt_text(), self.k.value(), self.alpha.value(), self.max_new.value()
        eos, early = self._eos(), self.early.currentText()
        self.tree.auto_fit = True

        def job(token: CancelToken) -> tuple[str, TreeState]:
            search = BeamSearch(handle.model, handle.tokenizer, prompt, k=k, alpha=alpha, max_new=max_new, eos=eos,
                                early_stopping=early)
            self.search = search
            search.eos_text = eos  # type: ignore[attr-defined]
            if run:
                search.run(token)
            return ref.label(handle.step), tree_state(search, eos)

        self.run(job, self._tree_ready, key="tree", what=f"beam search, k = {k}", cancellable=True)

    def next_step(self) -> None:
        search = self.search
        if search is None or self.state is None:
            self.start(run=False)
            return
        model = self.search_model

        def job() -> tuple[str, TreeState]:
            search.step()
            return model, tree_state(search, getattr(search, "eos_text", None))

        self.run(job, self._tree_ready, key="tree", what="one more step")

    def force(self, node_id: int) -> None:
        """Continue decoding from any node (a pruned candidate, say) to the end."""
        search = self.search
        if search is None:
            return
        self.tree.auto_fit = True
        model = self.search_model

        def job(token: CancelToken) -> tuple[str, TreeState]:
            search.force(node_id)
            search.run(token)
            return model, tree_state(search, getattr(search, "eos_text", None))

        self.run(job, self._tree_ready, key="tree", what="decoding from the chosen node", cancellable=True)

    def request_sampling(self) -> None:
        ref = self.ctx.model
        if ref is None:
            return
        handle = ref.handle
        p = self.sampling
        prompt, t, k, top_p, n, seed = (self.prompt_text(), p.temperature.value(), p.top_k.value(),
                                        p.top_p.value(), p.n.value(), p.seed.value())
        max_new, eos = self.max_new.value(), self._eos()

        def job() -> tuple[str, dict]:
            panel = next_token_panel(handle.model, handle.tokenizer, prompt, t, k, top_p)
            path, outs = samples(handle.model, handle.tokenizer, prompt, n, max_new, t, k, top_p, seed, eos)
            return ref.label(handle.step), {"panel": panel, "greedy": path, "samples": outs}

        self.run(job, self._samples_ready, key="sampling", what=f"drawing {n} samples")

    def _tree_ready(self, value: tuple[str, TreeState]) -> None:
        model, state = value
        self.search_model = model
        self.state = state
        self.tree.draw(state)
        self.nbest.show_hypotheses(state)
        self._size_table()
        live = "done" if state.done else f"{len(state.beam)} live hypotheses"
        gone = state.greedy_departure
        where = "stays in the beam" if gone is None else f"leaves the beam at step {gone['step']}"
        text = visible(state.greedy_text)
        text = text if len(text) <= 22 else text[:21] + "\u2026"
        self.status.setText(f"{len(state.nodes)} nodes, {max(n['step'] for n in state.nodes)} steps, {live}; "
                            f"greedy {where}: {text}")
        self.status.setToolTip(f"greedy: {visible(state.greedy_text)}\nlog p = {state.greedy_logprob:.2f}")
        self.show_source(model, f"beam search, k = {state.k}, alpha = {state.alpha:g}, on "
                         f"\u201c{visible(state.prompt)[:40]}\u201d")
        self.mark_painted()

    def _samples_ready(self, value: tuple[str, dict]) -> None:
        model, result = value
        self.sampled = True
        self.sampling.show_result(result)
        self.sampling.source.setText(f"samples from {model}")
        self.mark_painted()

    def _size_table(self) -> None:
        """Give the n-best table the height of its rows (up to 8) unless the user has moved the divider."""
        if self.table_sized_by_user:
            return
        sizes = self.beam_page.sizes()
        side = self.beam_page.widget(1)
        chrome = side.sizeHint().height() - self.nbest.sizeHint().height()  # title and margins
        rows = min(max(self.nbest.rowCount(), 2), 8)
        row_px = self.nbest.verticalHeader().defaultSectionSize()
        want = chrome + self.nbest.horizontalHeader().height() + rows * row_px + 6
        total = sum(sizes)
        if total > 0:
            self.beam_page.setSizes([max(total - want, 200), want])

    def _nbest_selected(self) -> None:
        rows = self.nbest.selectionModel().selectedRows()
        self.tree.select(self.state.nbest[rows[0].row()]["node"] if rows and self.state is not None else None)

    # --- export ---------------------------------------------------------------------------------

    def export_widget(self) -> QWidget:
        return self.tree if self.tabs.currentIndex() == 0 else self.sampling

    def export_name(self) -> str:
        return "beam-tree"

    def data_exports(self) -> dict[str, Any]:
        return {".json": self.write_json}

    def write_json(self, path: Path) -> None:
        """The search as JSON: prompt, n-best, the greedy path's nodes and the whole tree."""
        if self.state is None:
            raise UserError("run a beam search first")
        path.write_text(json.dumps({"prompt": self.prompt_text(), "model": self.search_model,
                                    "nbest": self.state.nbest, "greedy_nodes": self.state.greedy_nodes,
                                    "tree": self.state.nodes}, ensure_ascii=False, indent=1), encoding="utf-8")
