"""The Decoding view's beam tree (seed 001, Figure 10.10): layout, labels by level of detail, overlays.

Layout: one column per generated token. Every kept hypothesis is a row: a node's best kept child goes
on straight (so a row reads as the hypothesis' text), the others branch into the nearest free row that
no other edge crosses, and a row is reused once its branch has died. The best hypothesis is the top row.
Pruned candidates are short faded stubs fanned out below their parent, so they cost no rows.

Labels: each kept node's token above it, its cumulative log-probability below, the n-best ranks beside
the finished nodes, the pruned tokens beside their stubs; placed in order of importance wherever they
fit on the screen (never over another label or a node), so more appear as the user zooms in. Hover gives
everything about a node.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont, QFontMetricsF

STUB_DX = 0.38  # a pruned candidate's stub reaches this far right of its parent (in steps)
STUB_SPREAD = 0.42  # its fan reaches this far below the parent's row (in rows)
MAX_LABELS = 500
MAX_PX_PER_STEP, MAX_PX_PER_ROW = 110.0, 70.0  # "fit" never blows a small tree up beyond these
STUB_LABELS_FROM = 60.0  # pruned tokens are labelled once steps and rows are this many pixels apart

KEPT_COLOR, FINISHED_COLOR, PRUNED_COLOR = "#1f4e79", "#2ca02c", (150, 150, 150)
GREEDY_COLOR, FORCED_COLOR, SELECTED_COLOR = "#ff7f0e", "#9467bd", (255, 200, 40, 150)
STATUS_PEN = {"kept": pg.mkPen(KEPT_COLOR, width=2), "finished": pg.mkPen(FINISHED_COLOR, width=2),
              "pruned": pg.mkPen((*PRUNED_COLOR, 110), width=1)}
STATUS_BRUSH = {"kept": pg.mkBrush(KEPT_COLOR), "finished": pg.mkBrush(FINISHED_COLOR),
                "pruned": pg.mkBrush(175, 175, 175, 150)}
STATUS_SIZE = {"kept": 8, "finished": 10, "pruned": 5}
NODE_PEN = pg.mkPen("w", width=0.5)
FORCED_PEN = pg.mkPen(FORCED_COLOR, width=2.5)
GREEDY_PEN = pg.mkPen(GREEDY_COLOR, width=4)
GREEDY_EXIT_PEN = pg.mkPen(GREEDY_COLOR, width=2.5, style=pg.QtCore.Qt.PenStyle.DashLine)
SELECTED_PEN = pg.mkPen(SELECTED_COLOR, width=11)


def visible(text: str) -> str:
    """A token or text with its invisible characters shown: newline, tab, and a lone space."""
    text = text.replace("\n", "\u21b5").replace("\t", "\u21e5").replace("\r", "\u240d")
    return text.replace(" ", "\u2423") if text.strip() == "" else text


# --- layout ---------------------------------------------------------------------------------------


def branch_keys(nodes: list[dict], prefer: Iterable[int] = ()) -> dict[int, tuple]:
    """How good the best hypothesis through each kept node is: preferred leaves (the n-best, best first)
    above all, then leaves that lived longest, then the higher cumulative log-probability."""
    rank = {i: r for r, i in enumerate(prefer)}
    kept_kids: dict[int, list[int]] = defaultdict(list)
    for n in nodes:
        if n["parent"] is not None and n["status"] != "pruned":
            kept_kids[n["parent"]].append(n["id"])
    key: dict[int, tuple] = {}
    for n in sorted(nodes, key=lambda n: -n["step"]):  # children before parents
        i = n["id"]
        if n["status"] == "pruned" and i != 0:
            continue
        if kept_kids[i]:
            key[i] = max(key[c] for c in kept_kids[i])
        elif i in rank:
            key[i] = (2, -rank[i], 0.0)
        else:
            key[i] = (1, n["step"], n.get("cum_logprob", 0.0))
    return key


@dataclass
class _Rows:
    """Rows taken by branches (first and last step) and the branch edges arriving at each step."""

    spans: list[list[tuple[int, int]]] = field(default_factory=list)
    arrivals: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))

    def free(self, row: int, first: int, last: int) -> bool:
        """Free for the branch with an empty column on both sides, so two branches never read as one."""
        return row >= len(self.spans) or all(first > b + 1 or a > last + 1 for a, b in self.spans[row])

    def crossings(self, parent_row: int, row: int, step: int) -> int:
        """Edges and branches that the edge from (step - 1, parent_row) to (step, row) would cross."""
        lo, hi = sorted((parent_row, row))
        n = sum(any(a <= step - 1 <= b for a, b in self.spans[h]) for h in range(lo + 1, min(hi, len(self.spans))))
        return n + sum((a - parent_row) * (b - row) < 0 for a, b in self.arrivals[step] if a != parent_row)

    def take(self, row: int, first: int, last: int, parent_row: int | None) -> None:
        while len(self.spans) <= row:
            self.spans.append([])
        self.spans[row].append((first, last))
        if parent_row is not None:
            self.arrivals[first].append((parent_row, row))


def layout(nodes: list[dict], prefer: Iterable[int] = ()) -> dict[int, tuple[float, float]]:
    """Positions (x = step, y = row) of all nodes: kept hypotheses in rows, pruned candidates as stubs.

    ``prefer``: leaf nodes to put on top, best first (the n-best list)."""
    if not nodes:
        return {}
    by_id = {n["id"]: n for n in nodes}
    key = branch_keys(nodes, prefer)
    kept_kids: dict[int, list[int]] = defaultdict(list)
    pruned_kids: dict[int, list[int]] = defaultdict(list)
    for n in nodes:
        if n["parent"] is not None:
            (pruned_kids if n["status"] == "pruned" else kept_kids)[n["parent"]].append(n["id"])
    for kids in kept_kids.values():
        kids.sort(key=lambda c: (key[c], -by_id[c]["rank"]), reverse=True)

    def branch(start: int) -> list[int]:
        out = [start]
        while kept_kids[out[-1]]:
            out.append(kept_kids[out[-1]][0])
        return out

    root = nodes[0]["id"]
    rows = _Rows()
    pos: dict[int, tuple[float, float]] = {}
    todo: dict[int, list[tuple[int, int]]] = defaultdict(list)  # step -> (sibling order, start node)

    def place(chain: list[int], row: int, parent_row: int | None) -> None:
        rows.take(row, by_id[chain[0]]["step"], by_id[chain[-1]]["step"], parent_row)
        for i in chain:
            pos[i] = (float(by_id[i]["step"]), float(row))
            for order, c in enumerate(kept_kids[i][1:]):
                todo[by_id[c]["step"]].append((order, c))

    place(branch(root), 0, None)
    for step in range(int(by_id[root]["step"]) + 1, max(n["step"] for n in nodes) + 1):
        starts = sorted(todo.pop(step, []), key=lambda oc: (pos[by_id[oc[1]]["parent"]][1], oc[0]))
        for _, start in starts:
            chain = branch(start)
            parent_row = int(pos[by_id[start]["parent"]][1])
            last = by_id[chain[-1]]["step"]
            options = [r for r in range(len(rows.spans) + 1) if r != parent_row and rows.free(r, step, last)]
            row = min(options, key=lambda r: (rows.crossings(parent_row, r, step), abs(r - parent_row), r < parent_row))
            place(chain, row, parent_row)
    for n in sorted(nodes, key=lambda n: n["step"]):  # stubs, and anything not reached (defensive)
        i = n["id"]
        if i in pos:
            stubs = sorted(pruned_kids[i], key=lambda c: -by_id[c].get("cum_logprob", 0.0))
            x, y = pos[i]
            for c, off in zip(stubs, stub_offsets(len(stubs)), strict=True):
                pos[c] = (x + STUB_DX, y + off)
        elif n["parent"] is not None and n["parent"] in pos:
            pos[i] = (float(n["step"]), pos[n["parent"]][1])
        else:
            pos[i] = (float(n["step"]), 0.0)
    return pos


def stub_offsets(m: int) -> list[float]:
    """Where m stubs end: fanned out below the row, best first, leaving the row itself to the kept edge
    and the space above it to the token labels."""
    if m == 0:
        return []
    return [0.2] if m == 1 else list(np.linspace(0.12, STUB_SPREAD, m))


# --- labels -----------------------------------------------------------------------------------------


@dataclass
class Label:
    """A label that may be drawn: where (data coordinates), what, on which side of its point, how important."""

    x: float
    y: float
    text: str
    kind: str  # token | logprob | rank | stub | prompt | greedy
    priority: tuple
    node: int | None = None
    sides: tuple[str, ...] = ()  # where it may go, first choice first (default: its kind's side)


# kind -> (font size, bold, colour, side, gap in pixels from the point)
LABEL_STYLE = {
    "token": (9, True, (20, 20, 20), "above", 4.0),
    "logprob": (7, False, (95, 95, 95), "below", 4.0),
    "rank": (8, True, (30, 120, 30), "right", 7.0),
    "stub": (7, False, (120, 120, 120), "right", 4.0),
    "prompt": (8, False, (40, 40, 40), "left", 8.0),
    "greedy": (8, True, (205, 95, 0), "right", 9.0),
}


class LabelGrid:
    """Screen boxes placed so far, bucketed in a coarse grid so that an overlap test is quick."""

    def __init__(self, cell: float = 40.0) -> None:
        self.cell = cell
        self.cells: dict[tuple[int, int], list[tuple[float, float, float, float]]] = defaultdict(list)

    def _keys(self, box: tuple[float, float, float, float]) -> list[tuple[int, int]]:
        c = self.cell
        return [(i, j) for i in range(int(box[0] // c), int(box[2] // c) + 1)
                for j in range(int(box[1] // c), int(box[3] // c) + 1)]

    def free(self, box: tuple[float, float, float, float]) -> bool:
        return not any(box[0] < q[2] and q[0] < box[2] and box[1] < q[3] and q[1] < box[3]
                       for k in self._keys(box) for q in self.cells.get(k, ()))

    def add(self, box: tuple[float, float, float, float]) -> None:
        for k in self._keys(box):
            self.cells[k].append(box)


def label_box(px: float, py: float, width: float, height: float, side: str, gap: float) -> tuple:
    """The screen box (x0, y0, x1, y1) of a label of this size on ``side`` of the point (px, py)."""
    if side == "above":
        return (px - width / 2, py - gap - height, px + width / 2, py - gap)
    if side == "below":
        return (px - width / 2, py + gap, px + width / 2, py + gap + height)
    if side == "right":
        return (px + gap, py - height / 2, px + gap + width, py + height / 2)
    return (px - gap - width, py - height / 2, px - gap, py + height / 2)


# --- the plot ---------------------------------------------------------------------------------------


class BeamTreePlot(pg.PlotWidget):
    """The tree: one scatter for the nodes (hover, click), one curve per edge style, overlays, labels."""

    def __init__(self, on_click: Callable[[int], None]) -> None:
        super().__init__(background="w")
        self.plot_item = self.getPlotItem()
        self.vb = self.plot_item.vb
        self.setLabel("bottom", "generated tokens (step)")
        self.hideAxis("left")
        self.getAxis("bottom").setTextPen("#333")
        self.invertY(True)
        self.setMenuEnabled(False)
        self.vb.disableAutoRange()
        self.selected_path = pg.PlotCurveItem(pen=SELECTED_PEN)
        self.addItem(self.selected_path)
        self.edges = {s: pg.PlotCurveItem(pen=p, connect="pairs") for s, p in STATUS_PEN.items()}
        for s in ("pruned", "kept", "finished"):
            self.addItem(self.edges[s])
        self.greedy = pg.PlotCurveItem(pen=GREEDY_PEN)
        self.addItem(self.greedy)
        self.greedy_exit_line = pg.PlotCurveItem(pen=GREEDY_EXIT_PEN)
        self.addItem(self.greedy_exit_line)
        self.scatter = pg.ScatterPlotItem(hoverable=True, tip=self._tip, hoverSize=13,
                                          hoverPen=pg.mkPen("k", width=1.5))
        self.scatter.sigClicked.connect(lambda _item, points, _ev: on_click(int(points[0].data())))
        self.addItem(self.scatter)
        self.greedy_exit = pg.ScatterPlotItem(hoverable=True, tip=lambda *_: self.greedy_exit_tip, symbol="t2",
                                              size=13, pen=pg.mkPen("w", width=1), brush=pg.mkBrush(GREEDY_COLOR))
        self.addItem(self.greedy_exit)
        self.greedy_exit_tip = ""
        self.plot_item.setTitle(self._legend_html(), size="9pt")
        self.state: Any = None
        self.pos: dict[int, tuple[float, float]] = {}
        self.candidates: list[Label] = []
        self.path_nodes: set[int] = set()
        self.shown: list[tuple[Label, tuple[float, float, float, float]]] = []
        self.pools: dict[str, list[pg.TextItem]] = defaultdict(list)
        self.fonts = {k: QFont("DejaVu Sans Mono" if k == "token" else "DejaVu Sans", s) for k, (s, *_)
                      in LABEL_STYLE.items()}
        for k, (_s, bold, *_rest) in LABEL_STYLE.items():
            self.fonts[k].setBold(bold)
        self.metrics = {k: QFontMetricsF(f) for k, f in self.fonts.items()}
        self.auto_fit = True  # fit the whole tree on each draw until the user zooms or pans
        self._relabel = QTimer(self)
        self._relabel.setSingleShot(True)
        self._relabel.setInterval(40)  # re-place labels at most 25 times a second while zooming
        self._relabel.timeout.connect(self.place_labels)
        self.vb.sigRangeChanged.connect(lambda *_: self._relabel.start())
        self.vb.sigRangeChangedManually.connect(lambda *_: setattr(self, "auto_fit", False))
        self.vb.sigResized.connect(self._resized)

    @staticmethod
    def _legend_html() -> str:
        def key(symbol: str, color: str, text: str) -> str:
            return f'<span style="color:{color}">{symbol}</span>&nbsp;{text}'

        items = [key("\u25cf", KEPT_COLOR, "kept"), key("\u25cf", "#b4b4b4", "pruned (click to force)"),
                 key("\u25a0", FINISHED_COLOR, "finished (#rank)"), key("\u2501", GREEDY_COLOR, "greedy"),
                 key("\u25b6", GREEDY_COLOR, "greedy leaves the beam"), key("\u25cb", FORCED_COLOR, "forced"),
                 key("\u2501", "#ffc828", "selected hypothesis")]
        return '<span style="color:#333">' + "&nbsp;&nbsp;&nbsp;".join(items) + "</span>"

    # --- drawing ------------------------------------------------------------------------------------

    def _tip(self, x: float, y: float, data: Any) -> str:
        if self.state is None:
            return ""
        n = self.state.nodes[int(data)]
        if n["parent"] is None:
            return f"prompt: {self.state.prompt!r}\nclick to start again from the prompt"
        end = f", ended ({n['end']})" if n.get("end") else ""
        forced = ", forced" if n.get("forced") else ""
        return (f"{visible(n['token'])!r}  step {n['step']}, {n['status']}{end}{forced}\n"
                f"log p = {n['logprob']:.3f} (rank {n['rank']} among its parent's next tokens)\n"
                f"cumulative log p = {n['cum_logprob']:.3f}\n"
                f"score = cum / {n['step']}^{self.state.alpha:g} = {n['score']:.4f}\nclick to continue from here")

    def draw(self, state: Any) -> None:
        """Draw a new copy of the search (fits it in view unless the user has zoomed or panned)."""
        self.state = state
        nodes = state.nodes
        pos = self.pos = layout(nodes, [h["node"] for h in state.nbest] or list(state.beam))
        xy = np.array([pos[n["id"]] for n in nodes], dtype=float)
        parent = np.array([n["parent"] if n["parent"] is not None else n["id"] for n in nodes])
        status = np.array([n["status"] for n in nodes])
        for s, item in self.edges.items():
            idx = np.flatnonzero((status == s) & (parent != np.arange(len(nodes))))
            seg = np.empty((2 * len(idx), 2))
            seg[0::2], seg[1::2] = xy[parent[idx]], xy[idx]
            item.setData(seg[:, 0], seg[:, 1])
        g = np.array([pos[i] for i in state.greedy_nodes if i in pos], dtype=float).reshape(-1, 2)
        self.greedy.setData(g[:, 0], g[:, 1])
        brushes = [STATUS_BRUSH[s] for s in status]
        pens = [FORCED_PEN if n.get("forced") else NODE_PEN for n in nodes]
        sizes = [12 if n.get("forced") else STATUS_SIZE[n["status"]] for n in nodes]
        self.scatter.setData(x=xy[:, 0], y=xy[:, 1], data=np.arange(len(nodes)), brush=brushes, pen=pens, size=sizes,
                             symbol=["s" if s == "finished" else "o" for s in status])
        self._draw_greedy_exit(state)
        self.candidates = self._label_candidates(state)
        self.path_nodes = set()  # no hypothesis selected (labels are placed once, below)
        self.selected_path.setData([], [])
        if self.auto_fit:
            self.fit()
        self.place_labels()

    def _draw_greedy_exit(self, state: Any) -> None:
        """Where the greedy path leaves the beam: a dashed stroke on from its last node and a marker."""
        gone = state.greedy_departure
        if not gone:
            self.greedy_exit_line.setData([], [])
            self.greedy_exit.setData([])
            self.greedy_exit_tip = ""
            return
        x, y = self.pos[gone["node"]]
        dy = 0.0 if gone["reason"] == "not expanded" else 0.15  # on from a stub, away from the row
        ex, ey = x + 0.5, y + dy
        self.greedy_exit_line.setData([x, ex], [y, ey])
        self.greedy_exit.setData([{"pos": (ex, ey), "data": gone["node"]}])
        step = gone["step"]
        rest = visible("".join(state.greedy_tokens[step - 1:]))  # from its first token outside the beam
        if gone["reason"] == "pruned":
            why = (f"greedy's token {visible(state.greedy_tokens[step - 1])!r} at step {step} was pruned here:\n"
                   f"its hypothesis was not among the k = {state.k} best by cumulative log p.")
        elif state.nodes[gone["node"]].get("round", 0) < max(n.get("round", 0) for n in state.nodes):
            why = "the beam never extended this node: you forced another prefix first."
        else:
            why = f"the beam never extended this node: its hypothesis ended or the search stopped at step {step - 1}."
        score = state.greedy_logprob / max(len(state.greedy_tokens), 1) ** state.alpha
        best = f", beam's best {state.nbest[0]['score']:.4f}" if state.nbest else ""
        self.greedy_exit_tip = (f"greedy continues outside the beam from step {step}\n{why}\n"
                                f"greedy goes on: {rest!r}\n"
                                f"greedy's log p = {state.greedy_logprob:.2f}, score = {score:.4f}{best}")

    def select(self, node: int | None) -> None:
        """Highlight the path from the prompt to ``node`` (an n-best hypothesis); None clears it."""
        nodes = self.state.nodes if self.state is not None else []
        path: list[int] = []
        while node is not None and 0 <= node < len(nodes):
            path.append(node)
            node = nodes[node]["parent"]
        self.path_nodes = set(path)
        xy = np.array([self.pos[i] for i in path[::-1]], dtype=float).reshape(-1, 2)
        self.selected_path.setData(xy[:, 0], xy[:, 1])
        self.place_labels()

    # --- labels ---------------------------------------------------------------------------------------

    def _label_candidates(self, state: Any) -> list[Label]:
        """Every label the tree could show, with its priority (lower first)."""
        nodes = state.nodes
        ranks = {h["node"]: r for r, h in enumerate(state.nbest, 1)}
        on_nbest: set[int] = set()
        for h in state.nbest:
            i = h["node"]
            while i is not None and i not in on_nbest:
                on_nbest.add(i)
                i = nodes[i]["parent"]
        ends = {i for i in range(len(nodes)) if nodes[i]["status"] != "pruned"} - {
            n["parent"] for n in nodes if n["status"] != "pruned"}
        out: list[Label] = []
        x, y = self.pos[0]
        tail = visible(state.prompt[-18:]) if state.prompt else "(empty prompt)"
        out.append(Label(x, y, ("\u2026" if len(state.prompt) > 18 else "") + tail, "prompt", (0, 0)))
        for i, r in ranks.items():
            out.append(Label(*self.pos[i], f"#{r}", "rank", (0, r)))
        if state.greedy_departure:
            gx, gy = self.greedy_exit.data["x"][0], self.greedy_exit.data["y"][0]
            out.append(Label(float(gx), float(gy), "greedy leaves the beam", "greedy", (0, 99), None,
                             ("right", "below", "above", "left")))
        for n in nodes[1:]:
            i = n["id"]
            px, py = self.pos[i]
            if n["status"] == "pruned":
                out.append(Label(px, py, visible(n["token"]), "stub", (6, -n["cum_logprob"]), i))
                continue
            tier = 2 if i in on_nbest else 3
            out.append(Label(px, py, visible(n["token"]), "token", (tier, -n["score"]), i))
            lp_tier = 4 if i in ends else (5 if n["step"] % 5 == 0 else 6)
            out.append(Label(px, py, f"{n['cum_logprob']:.1f}", "logprob", (lp_tier, -n["score"]), i))
        return out

    def _pixel_map(self) -> tuple[Callable, Callable, float, float]:
        """Data to view-box pixels and back (the y axis runs down: invertY), and the view box size."""
        (x0, x1), (y0, y1) = self.vb.viewRange()
        w, h = max(self.vb.width(), 1.0), max(self.vb.height(), 1.0)
        sx, sy = w / ((x1 - x0) or 1.0), h / ((y1 - y0) or 1.0)
        return ((lambda x, y: ((x - x0) * sx, (y - y0) * sy)), (lambda px, py: (x0 + px / sx, y0 + py / sy)), w, h)

    def place_labels(self) -> None:
        """Draw the labels that fit: in priority order, each only where it overlaps no label or node
        already there (in screen pixels), so zooming in reveals more."""
        to_px, to_data, w, h = self._pixel_map()
        (x0, x1), (y0, y1) = self.vb.viewRange()
        stubs = min(w / ((x1 - x0) or 1.0), h / ((y1 - y0) or 1.0)) >= STUB_LABELS_FROM
        grid = LabelGrid()
        if self.state is not None:
            for x, y in self.pos.values():  # nodes are obstacles for the labels of other nodes
                px, py = to_px(x, y)
                if -10 <= px <= w + 10 and -10 <= py <= h + 10:
                    grid.add((px - 2.5, py - 2.5, px + 2.5, py + 2.5))
        shown: list[tuple[Label, tuple[float, float, float, float]]] = []
        for lab in sorted(self.candidates, key=self._priority):
            if len(shown) >= MAX_LABELS:
                break
            if lab.kind == "stub" and not stubs:
                continue
            px, py = to_px(lab.x, lab.y)
            if not (0 <= px <= w and 0 <= py <= h):
                continue
            fm = self.metrics[lab.kind]
            _size, _bold, _color, side, gap = LABEL_STYLE[lab.kind]
            for where in lab.sides or (side,):
                box = label_box(px, py, fm.horizontalAdvance(lab.text) + 2, fm.height(), where, gap)
                if box[0] >= 0 and box[2] <= w and box[1] >= 0 and box[3] <= h and grid.free(box):
                    grid.add(box)
                    shown.append((lab, box))
                    break
        used: dict[str, int] = defaultdict(int)
        for lab, box in shown:
            t = self._text_item(lab.kind, used[lab.kind])
            used[lab.kind] += 1
            t.setText(lab.text)
            # the box's top-left corner in data coordinates (TextItem anchor (0, 0))
            t.setPos(*to_data(box[0] - 1, box[1]))
            t.setVisible(True)
        for kind, pool in self.pools.items():
            for t in pool[used[kind]:]:
                t.setVisible(False)
        self.shown = shown

    def _priority(self, lab: Label) -> tuple:
        """The selected hypothesis' tokens come right after the ranks, its log-probabilities after the ends'."""
        if lab.node in self.path_nodes and lab.kind in ("token", "logprob"):
            return (1 if lab.kind == "token" else 4, lab.priority[0], *lab.priority[1:])
        return (lab.priority[0], 9, *lab.priority[1:])

    def _text_item(self, kind: str, i: int) -> pg.TextItem:
        pool = self.pools[kind]
        while len(pool) <= i:
            t = pg.TextItem("", anchor=(0, 0), color=LABEL_STYLE[kind][2], fill=pg.mkBrush(255, 255, 255, 185))
            t.textItem.document().setDocumentMargin(0)
            t.setFont(self.fonts[kind])
            t.setZValue(30)
            self.addItem(t)
            pool.append(t)
        return pool[i]

    # --- zoom -------------------------------------------------------------------------------------

    def fit(self) -> None:
        """Show the whole tree: columns and rows as large as fit (within limits), room for the labels."""
        self.auto_fit = True
        if not self.pos:
            return
        width = max(max(p[0] for p in self.pos.values()), 1.0)  # the last column's stubs included
        height = max(max(p[1] for p in self.pos.values()), 1.0)  # the last row's stubs included
        w, h = max(self.vb.width(), 200.0), max(self.vb.height(), 120.0)
        left_px, right_px, top_px, bottom_px = 120.0, 56.0, 24.0, 16.0  # the prompt, ranks, tokens, stub tokens
        px_step = min((w - left_px - right_px) / width, MAX_PX_PER_STEP)
        px_row = min((h - top_px - bottom_px) / height, MAX_PX_PER_ROW)
        x0 = -left_px / px_step
        y0 = -top_px / px_row
        self.vb.setRange(xRange=(x0, x0 + w / px_step), yRange=(y0, y0 + h / px_row), padding=0)

    def _resized(self) -> None:
        if self.auto_fit:
            self.fit()
        self._relabel.start()
