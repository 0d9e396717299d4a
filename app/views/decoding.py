"""The Decoding view: beam search as the tree it searched (seed 001, Figure 10.10), and sampling.

Beam tree: drawn left to right, one column per generated token. Each node shows its token and the
cumulative log-probability; hovering gives the normalised score cum / length^alpha. Kept hypotheses are
solid, pruned candidates faded, finished ones marked with a square; the greedy path is overlaid in
orange; the n-best list sits beside it. "Next step" expands one step; clicking any node forces that
prefix and decoding continues from it. Scroll to zoom, drag to pan.

Sampling: the next-token distribution before and after temperature, with the tokens that top-k and
top-p cut off shaded, and several seeded samples side by side, each marked where it leaves the greedy
path.

The BeamSearch object lives in the engine thread; the view only ever receives copies of its tree.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.export import save_png, save_svg
from app.views.attention import shown_token
from engine.decoding.cli import unescape
from engine.decoding.sampling import next_token_panel, samples
from engine.decoding.search import BeamSearch, greedy
from engine.errors import UserError

STATUS_PEN = {"kept": pg.mkPen("#1f4e79", width=2), "finished": pg.mkPen("#2ca02c", width=2),
              "pruned": pg.mkPen((150, 150, 150, 90), width=1)}
STATUS_BRUSH = {"kept": pg.mkBrush("#1f4e79"), "finished": pg.mkBrush("#2ca02c"),
                "pruned": pg.mkBrush(190, 190, 190, 120)}
GREEDY_PEN = pg.mkPen("#ff7f0e", width=4)


@dataclass
class TreeState:
    """A copy of the search, made in the engine thread for the GUI."""

    nodes: list[dict]
    beam: list[int]
    pool: list[int]
    done: bool
    nbest: list[dict]
    greedy_nodes: list[int]
    greedy_text: str
    alpha: float


def layout(nodes: list[dict]) -> dict[int, tuple[float, float]]:
    """Tidy left-to-right layout: x = step, leaves stacked in order of rank, parents centred on children."""
    children: dict[int, list[int]] = {n["id"]: [] for n in nodes}
    for n in nodes:
        if n["parent"] is not None:
            children[n["parent"]].append(n["id"])
    by_id = {n["id"]: n for n in nodes}
    pos: dict[int, tuple[float, float]] = {}
    next_leaf = [0.0]

    def place(i: int) -> float:
        kids = sorted(children[i], key=lambda c: (by_id[c]["status"] == "pruned", by_id[c]["rank"]))
        if not kids:
            y = next_leaf[0]
            next_leaf[0] += 1.0
        else:
            ys = [place(c) for c in kids]
            y = (ys[0] + ys[-1]) / 2
        pos[i] = (float(by_id[i]["step"]), y)
        return y

    if nodes:
        import sys

        sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
        place(nodes[0]["id"])
    return pos


class BeamTreePlot(pg.PlotWidget):
    """The tree as one scatter (hover, click) plus one line item per edge style and text labels."""

    def __init__(self, on_click) -> None:
        super().__init__(background="w")
        self.setLabel("bottom", "generated tokens (step)")
        self.getAxis("left").setStyle(showValues=False)
        self.invertY(True)
        self.edges = {s: pg.PlotCurveItem(pen=p, connect="pairs") for s, p in STATUS_PEN.items()}
        for item in self.edges.values():
            self.addItem(item)
        self.greedy = pg.PlotCurveItem(pen=GREEDY_PEN)
        self.addItem(self.greedy)
        self.scatter = pg.ScatterPlotItem(hoverable=True, tip=self._tip, hoverSize=14)
        self.scatter.sigClicked.connect(lambda _item, points, _ev: on_click(int(points[0].data())))
        self.addItem(self.scatter)
        self.labels: list[pg.TextItem] = []
        self.state: TreeState | None = None
        legend = self.addLegend(offset=(-10, -10))
        for name, pen in (("kept", STATUS_PEN["kept"]), ("pruned", STATUS_PEN["pruned"]),
                          ("finished", STATUS_PEN["finished"]), ("greedy", GREEDY_PEN)):
            legend.addItem(pg.PlotDataItem(pen=pen), name)

    def _tip(self, x: float, y: float, data: Any) -> str:
        if self.state is None:
            return ""
        n = self.state.nodes[int(data)]
        end = f", ended ({n['end']})" if n.get("end") else ""
        return (f"{shown_token(n['token']) or '(prompt)'}  step {n['step']}, {n['status']}{end}\n"
                f"log p = {n['logprob']:.3f}, cumulative = {n['cum_logprob']:.3f}\n"
                f"score = cum / {n['step']}^{self.state.alpha:g} = {n['score']:.4f}\nclick to continue from here")

    def draw(self, state: TreeState) -> None:
        self.state = state
        pos = layout(state.nodes)
        for status, item in self.edges.items():
            seg = [(pos[n["parent"]], pos[n["id"]]) for n in state.nodes
                   if n["parent"] is not None and n["status"] == status]
            xs = np.array([c for a, b in seg for c in (a[0], b[0])], dtype=float)
            ys = np.array([c for a, b in seg for c in (a[1], b[1])], dtype=float)
            item.setData(xs, ys)
        g = [pos[i] for i in state.greedy_nodes if i in pos]
        self.greedy.setData([p[0] for p in g], [p[1] for p in g])
        spots = []
        for n in state.nodes:
            x, y = pos[n["id"]]
            symbol = "s" if n["status"] == "finished" else "o"
            size = 7 if n["status"] == "pruned" else 10
            spots.append({"pos": (x, y), "data": n["id"], "symbol": symbol, "size": size,
                          "brush": STATUS_BRUSH[n["status"]], "pen": pg.mkPen("w", width=0.5)})
        self.scatter.setData(spots)
        for t in self.labels:
            self.removeItem(t)
        self.labels = []
        for n in state.nodes[1:]:
            if n["status"] == "pruned":  # labelled on hover only: the rejected candidates would bury the beam
                continue
            x, y = pos[n["id"]]
            t = pg.TextItem(f"{shown_token(n['token'])} {n['cum_logprob']:.1f}", anchor=(0.5, 1.15),
                            color=(20, 20, 20))
            t.setFont(QFont("monospace", 8))
            t.setPos(x, y)
            self.addItem(t)
            self.labels.append(t)
        root = pg.TextItem("prompt", anchor=(1.1, 0.5), color=(20, 20, 20))
        root.setPos(*pos[0])
        self.addItem(root)
        self.labels.append(root)
        self.autoRange(padding=0.05)


class SamplingPanel(QWidget):
    """Bars before and after temperature with the top-k / top-p cut-offs, and seeded samples."""

    def __init__(self) -> None:
        super().__init__()
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 5.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(1.0)
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 100_000)
        self.top_k.setSpecialValueText("off")
        self.top_p = QDoubleSpinBox()
        self.top_p.setRange(0.01, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setValue(1.0)
        self.n = QSpinBox()
        self.n.setRange(1, 16)
        self.n.setValue(4)
        self.seed = QSpinBox()
        self.seed.setRange(0, 1_000_000)
        self.run = QPushButton("Sample")
        form = QHBoxLayout()
        for label, w in (("temperature", self.temperature), ("top-k", self.top_k), ("top-p", self.top_p),
                         ("samples", self.n), ("seed", self.seed)):
            form.addWidget(QLabel(label))
            form.addWidget(w)
        form.addWidget(self.run)
        form.addStretch(1)
        self.bars = pg.PlotWidget(background="w")
        self.bars.addLegend(offset=(-10, 10))
        self.bars.setLabel("left", "probability")
        self.bars.getAxis("left").enableAutoSIPrefix(False)
        self.before = pg.BarGraphItem(x=[], height=[], width=0.4, brush="#9ecae1", name="model (T = 1)")
        self.after = pg.BarGraphItem(x=[], height=[], width=0.4, brush="#3182bd", name="after temperature")
        self.cut = pg.BarGraphItem(x=[], height=[], width=0.85, brush=(214, 39, 40, 45), pen=None,
                                   name="cut by top-k / top-p")
        for item in (self.cut, self.before, self.after):
            self.bars.addItem(item)
        self.summary = QLabel()
        self.texts = QTextBrowser()
        lay = QVBoxLayout(self)
        lay.addLayout(form)
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


class DecodingView(QWidget):
    key = "decoding"
    title = "Decoding"

    def __init__(self) -> None:
        super().__init__()
        self.window_ = None
        self.search: BeamSearch | None = None  # lives in the engine thread; touched only by jobs
        self.state: TreeState | None = None
        self.prompt = QLineEdit("HAMLET:\\nTo be, or not to be")
        self.prompt.setToolTip("\\n stands for a new line")
        self.k = QSpinBox()
        self.k.setRange(1, 64)
        self.k.setValue(4)
        self.alpha = QDoubleSpinBox()
        self.alpha.setRange(0.0, 3.0)
        self.alpha.setSingleStep(0.1)
        self.alpha.setValue(1.0)
        self.max_new = QSpinBox()
        self.max_new.setRange(1, 500)
        self.max_new.setValue(20)
        self.eos = QLineEdit("\\n")
        self.eos.setToolTip("end-of-sequence text (a token, or a short string for char models); empty: none")
        self.early = QComboBox()
        self.early.addItems(["heuristic", "true", "never"])
        self.run_btn = QPushButton("Run beam search")
        self.new_btn = QPushButton("New search")
        self.step_btn = QPushButton("Next step")
        self.status = QLabel()
        self.nbest = QListWidget()
        self.nbest.setWordWrap(True)
        self.nbest.setFont(QFont("monospace", 9))
        self.tree = BeamTreePlot(self.force)
        self.sampling = SamplingPanel()

        controls = QHBoxLayout()
        controls.addWidget(QLabel("prompt"))
        controls.addWidget(self.prompt, 1)
        for label, w in (("k", self.k), ("alpha", self.alpha), ("max new", self.max_new), ("eos", self.eos),
                         ("early stopping", self.early)):
            controls.addWidget(QLabel(label))
            controls.addWidget(w)
        buttons = QHBoxLayout()
        for b in (self.run_btn, self.new_btn, self.step_btn):
            buttons.addWidget(b)
        for fmt in ("png", "svg", "json"):
            b = QPushButton(f"Export {fmt.upper()}")
            b.clicked.connect(lambda _=False, f=fmt: self._export_dialog(f))
            buttons.addWidget(b)
        buttons.addWidget(self.status, 1)
        side = QGroupBox("n-best (score = sum log p / length^alpha)")
        sl = QVBoxLayout(side)
        sl.addWidget(self.nbest)
        beam_page = QSplitter()
        beam_page.addWidget(self.tree)
        beam_page.addWidget(side)
        beam_page.setSizes([900, 320])
        self.tabs = QTabWidget()
        self.tabs.addTab(beam_page, "Beam search")
        self.tabs.addTab(self.sampling, "Sampling")
        lay = QVBoxLayout(self)
        lay.addLayout(controls)
        lay.addLayout(buttons)
        lay.addWidget(self.tabs, 1)
        self.run_btn.clicked.connect(lambda: self.start(run=True))
        self.new_btn.clicked.connect(lambda: self.start(run=False))
        self.step_btn.clicked.connect(self.next_step)
        self.sampling.run.clicked.connect(self.request_sampling)

    # --- wiring -----------------------------------------------------------------------------

    def attach(self, window) -> None:
        self.window_ = window
        window.bridge.result.connect(self._on_result)

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        if self.state is None and self.window_ is not None:
            self.start(run=True)

    def _eos(self) -> list[str] | None:
        text = unescape(self.eos.text())
        return [text] if text else None

    def prompt_text(self) -> str:
        return unescape(self.prompt.text())

    def _snapshot(self, search: BeamSearch) -> TreeState:
        s = self.window_.session
        path = greedy(s.model, s.tokenizer, search.prompt, search.max_new, self._eos_cached)
        nbest = [h.to_dict() for h in search.result().nbest] if search.done else []
        return TreeState([n.to_dict() for n in search.tree.nodes], list(search.beam), list(search.pool),
                         search.done, nbest, search.tree.match(path.ids), path.generated, search.alpha)

    # --- beam search (jobs run in the engine thread) ------------------------------------------

    def start(self, run: bool) -> None:
        s = self.window_.session
        prompt, k, alpha, max_new = self.prompt_text(), self.k.value(), self.alpha.value(), self.max_new.value()
        eos, early = self._eos(), self.early.currentText()
        self._eos_cached = eos

        def job() -> TreeState:
            if s.model is None:
                raise UserError("no model loaded")
            search = BeamSearch(s.model, s.tokenizer, prompt, k=k, alpha=alpha, max_new=max_new, eos=eos,
                                early_stopping=early)
            self.search = search
            if run:
                search.run()
            return self._snapshot(search)

        self.window_.bridge.submit("decoding:tree", job)

    def next_step(self) -> None:
        if self.search is None or self.state is None:
            self.start(run=False)
            return
        search = self.search

        def job() -> TreeState:
            search.step()
            return self._snapshot(search)

        self.window_.bridge.submit("decoding:tree", job)

    def force(self, node_id: int) -> None:
        """Continue decoding from any node (a pruned candidate, say) to the end."""
        search = self.search
        if search is None:
            return

        def job() -> TreeState:
            search.force(node_id)
            search.run()
            return self._snapshot(search)

        self.window_.bridge.submit("decoding:tree", job)

    def request_sampling(self) -> None:
        s = self.window_.session
        p = self.sampling
        prompt, t, k, top_p, n, seed = (self.prompt_text(), p.temperature.value(), p.top_k.value(),
                                        p.top_p.value(), p.n.value(), p.seed.value())
        max_new, eos = self.max_new.value(), self._eos()

        def job() -> dict:
            if s.model is None:
                raise UserError("no model loaded")
            panel = next_token_panel(s.model, s.tokenizer, prompt, t, k, top_p)
            path, outs = samples(s.model, s.tokenizer, prompt, n, max_new, t, k, top_p, seed, eos)
            return {"panel": panel, "greedy": path, "samples": outs}

        self.window_.bridge.submit("decoding:sampling", job)

    def _on_result(self, kind: str, tag: Any, value: Any) -> None:
        if kind == "decoding:tree":
            self.state = value
            self.tree.draw(value)
            self.nbest.clear()
            for h in value.nbest:
                text = h["generated"].replace("\n", "\u21b5")
                self.nbest.addItem(f"{text}\n    score {h['score']:.4f}, log p {h['logprob']:.2f}, ended: {h['end']}")
            live = "done" if value.done else f"{len(value.beam)} live hypotheses"
            self.status.setText(f"{len(value.nodes)} nodes, {max(n['step'] for n in value.nodes)} steps, {live}; "
                                f"greedy: {value.greedy_text!r}")
            self.window_.painted[self.key] += 1
        elif kind == "decoding:sampling":
            self.sampling.show_result(value)
            self.window_.painted[self.key] += 1

    # --- export ---------------------------------------------------------------------------------

    def _export_dialog(self, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {fmt.upper()}", f"beam-tree.{fmt}")
        if path:
            self.export(path)

    def export(self, path: str) -> None:
        p = Path(path)
        try:
            if self.state is None:
                raise UserError("run a beam search first")
            if p.suffix == ".json":
                p.write_text(json.dumps({"prompt": self.prompt_text(), "nbest": self.state.nbest,
                                         "greedy_nodes": self.state.greedy_nodes, "tree": self.state.nodes},
                                        ensure_ascii=False, indent=1), encoding="utf-8")
            elif p.suffix == ".png":
                save_png(self.tree, p)
            elif p.suffix == ".svg":
                save_svg(self.tree, p)
            else:
                raise UserError(f"export to {p.suffix or 'a file without extension'} is not supported")
        except (UserError, OSError) as e:
            self.window_.show_message("error", str(e))
            return
        self.window_.show_message("info", f"exported {p}")
