"""The search inspector's tree drawing: a snapshot of engine.rl.search_trace drawn top-down with QPainter.

Nodes sit on one row per depth, children in move order under their parent (so a node keeps its place as
its N grows); an edge's width is its child's share of the parent's visits, a node's colour its mean value
Q for the player who moved into it (red -1, yellow 0, green +1). The phases of a stepped simulation are
drawn on top: the selected path, the new (or expanded) leaf, its evaluation and the values backed up.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.views.arena.palette import INK, MUTED, value_color
from engine.rl.search_trace import SimStep

SELECT = QColor("#f39c12")
EXPAND = QColor("#2e86de")
EVALUATE = QColor("#8e44ad")
BACKUP = QColor("#16a085")
PICKED = QColor("#1d4ed8")
UNVISITED = QColor(210, 215, 222)
BACKGROUND = QColor("#f7f9fb")
EDGE_LIGHT, EDGE_DARK, EDGE_NONE = QColor(200, 206, 213), QColor(95, 105, 118), QColor(225, 229, 234)
MARGIN = 18.0
TOP = 30.0


RING_PEN, PICK_PEN = QPen(INK, 1.2), QPen(PICKED, 4)
TOP_CENTER = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
CENTER = Qt.AlignmentFlag.AlignCenter


@cache
def _fill(q: float) -> QColor:
    return value_color(q)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(*(round(x + (y - x) * t) for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True)))


@cache
def _font(px: int, bold: bool = False) -> QFont:
    f = QFont()
    f.setPixelSize(px)
    f.setBold(bold)
    return f


def fmt(v: float | None, digits: int = 2, signed: bool = True) -> str:
    if v is None:
        return "–"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


class SearchTree(QWidget):
    """Draws one snapshot; a click on a node emits its action path."""

    nodeClicked = Signal(list)

    def __init__(self) -> None:
        super().__init__()
        self.snap: dict[str, Any] | None = None
        self.centers: dict[tuple[int, ...], QPointF] = {}
        self.radius: dict[tuple[int, ...], float] = {}
        self.room: dict[tuple[int, ...], float] = {}  # width a node's subtree takes: room for its labels
        self.step: SimStep | None = None
        self.phase = -1  # which phase of ``step`` is shown (0 select .. 3 back up), -1 none
        self.picked: tuple[int, ...] | None = None
        self.title = ""  # the agent as the page names it
        self.players = ("X", "O")  # the game's names for player 0 and 1
        self._per = self._dy = 0.0
        self.setMinimumSize(520, 340)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # --- what it shows ---------------------------------------------------------------------------

    def set_snapshot(self, snap: dict[str, Any] | None) -> None:
        self.snap = snap
        self._layout()
        self.update()

    def set_phase(self, step: SimStep | None, phase: int) -> None:
        self.step, self.phase = step, phase
        self.update()

    def set_picked(self, path: tuple[int, ...] | None) -> None:
        self.picked = path
        self.update()

    def node(self, path: tuple[int, ...]) -> dict[str, Any] | None:
        if self.snap is None:
            return None
        for nd in self.snap["nodes"]:
            if tuple(nd["path"]) == path:
                return nd
        return None

    def node_center(self, path: tuple[int, ...]) -> QPointF:
        """Where the node is drawn (tests click there)."""
        return self.centers[tuple(path)]

    # --- layout ------------------------------------------------------------------------------------

    def _layout(self) -> None:
        self.centers, self.radius, self.room = {}, {}, {}
        if not self.snap or not self.snap["nodes"]:
            return
        nodes = self.snap["nodes"]
        kids: dict[int, list[int]] = {}
        for i, nd in enumerate(nodes[1:], 1):
            kids.setdefault(nd["parent"], []).append(i)
        for lst in kids.values():
            lst.sort(key=lambda i: nodes[i]["path"][-1])
        depth = max(nd["depth"] for nd in nodes)
        slots: dict[int, float] = {}
        leaves = [0]

        span: dict[int, int] = {}

        def place(i: int) -> float:  # leaves take one slot each, a parent sits over its children's middle
            if i not in kids:
                slots[i], span[i] = leaves[0], 1
                leaves[0] += 1
            else:
                xs = [place(k) for k in kids[i]]
                slots[i], span[i] = (xs[0] + xs[-1]) / 2, sum(span[k] for k in kids[i])
            return slots[i]

        place(0)
        w = max(1.0, self.width() - 2 * MARGIN)
        h = max(1.0, self.height() - TOP - 70)
        per = w / max(1, leaves[0])
        dy = h / max(1, depth)
        for i, nd in enumerate(nodes):
            path = tuple(nd["path"])
            self.centers[path] = QPointF(MARGIN + (slots[i] + 0.5) * per, TOP + 14 + nd["depth"] * dy)
            self.radius[path] = {0: 17.0, 1: 14.0}.get(nd["depth"], max(4.0, min(10.0, per / 2.5)))
            self.room[path] = per * span[i]
        self._per, self._dy = per, dy

    def resizeEvent(self, ev) -> None:  # noqa: N802
        super().resizeEvent(ev)
        self._layout()

    # --- painting ------------------------------------------------------------------------------------

    def paintEvent(self, _ev) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), BACKGROUND)
        if not self.snap:
            p.setPen(MUTED)
            p.setFont(_font(14))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No search yet")
            p.end()
            return
        snap = self.snap
        nodes = snap["nodes"]
        score = "W/N + c√(ln N_parent / N)" if snap["kind"] == "uct" else "Q + c·P·√(N_parent+1)/(1+N)"
        p.setPen(INK)
        p.setFont(_font(13, True))
        p.drawText(QRectF(8, 4, self.width() - 16, 22), Qt.AlignmentFlag.AlignLeft,
                   f"{self.title or snap['agent']} · {snap['kind'].upper()} · N = {snap['sims']:,} simulations"
                   f" · score = {score} (c = {snap['c']:g})")
        on_path = self._highlighted_paths()
        nodes = self.displayed()
        # edges first, under the nodes
        for nd in nodes[1:]:
            if nd.get("hidden"):
                continue
            path = tuple(nd["path"])
            parent = nodes[nd["parent"]]
            share = nd["n"] / parent["n"] if parent["n"] else 0.0
            width = 1.0 + 9.0 * share
            # opaque colours and flat caps: antialiased wide lines with alpha cost ~10x more to rasterise
            color = _mix(EDGE_LIGHT, EDGE_DARK, share) if nd["n"] else EDGE_NONE
            if path in on_path:
                color, width = on_path[path], max(width, 4.0)
            p.setPen(QPen(color, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
            p.drawLine(self.centers[tuple(parent["path"])], self.centers[path])
        for nd in nodes:
            if not nd.get("hidden"):
                self._paint_node(p, nd, on_path)
        self._paint_phase(p)
        p.end()

    def displayed(self) -> list[dict[str, Any]]:
        """The snapshot's nodes as the phase shown has them: before the back-up phase the nodes on the stepped
        path show N, Q and scores without this simulation (UCT's new leaf is not there yet while selecting)."""
        assert self.snap is not None
        nodes = self.snap["nodes"]
        st, ph = self.step, self.phase
        if st is None or not 0 <= ph < 3:
            return nodes
        uct, c = self.snap["kind"] == "uct", self.snap["c"]
        added = {tuple(st.path[:i]): st.backup[i] for i in range(len(st.path) + 1)}
        out = []
        for nd in nodes:
            path = tuple(nd["path"])
            if path not in added and not (path and path[:-1] in added):
                out.append(nd)
                continue
            new = dict(nd)
            if path in added:
                v = added[path]
                new["n"] = n = nd["n"] - 1
                new["w"] = w = nd["w"] - ((v + 1) / 2 if uct else v)
                new["q"] = None if n == 0 else (2 * w / n - 1 if uct else w / n)
                new["hidden"] = uct and n == 0 and ph == 0 and st.expanded and path == tuple(st.path)
            if path:  # the parent had one visit less too: every child's score moves with it
                pn, n, w = nodes[nd["parent"]]["n"] - 1, new["n"], new["w"]
                if uct:
                    new["score"] = None if n == 0 or pn < 1 else w / n + c * math.sqrt(math.log(pn) / n)
                else:
                    new["score"] = (w / n if n else 0.0) + c * nd["p"] * math.sqrt(pn + 1) / (1 + n)
            out.append(new)
        return out

    def _highlighted_paths(self) -> dict[tuple[int, ...], QColor]:
        """Edges (by child path) coloured by the phase shown: the selected ones, then the whole path."""
        st, ph = self.step, self.phase
        if st is None or ph < 0:
            return {}
        paths = [tuple(st.path[:i]) for i in range(1, len(st.path) + 1)]
        if ph == 0:
            return {q: SELECT for q in paths[: st.selected]}
        if ph in (1, 2):
            return {**{q: SELECT for q in paths[: st.selected]},
                    **({paths[-1]: EXPAND} if st.expanded and len(paths) > st.selected else {})}
        return {q: BACKUP for q in paths}

    def _paint_node(self, p: QPainter, nd: dict[str, Any], on_path: dict[tuple[int, ...], QColor]) -> None:
        path = tuple(nd["path"])
        c, r = self.centers[path], self.radius[path]
        p.setPen(PICK_PEN if path == self.picked else RING_PEN)
        p.setBrush(UNVISITED if nd["q"] is None else _fill(round(nd["q"], 2)))
        p.drawEllipse(c, r, r)
        if nd["depth"] == 1 or (nd["depth"] > 1 and r >= 9):
            p.setPen(INK)
            p.setFont(_font(int(r * 0.95), True))
            p.drawText(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r), CENTER, nd["move"])
        if nd["depth"] == 0:
            txt = f"root: N {nd['n']:,}, Q {fmt(nd['q'])}, {self.players[1 - nd['mover']]} to move"
            p.setPen(INK)
            p.setFont(_font(12))
            p.drawText(QRectF(c.x() + r + 8, c.y() - 9, 320, 18), Qt.AlignmentFlag.AlignLeft, txt)
            return
        if nd["depth"] > 1 and self.room[path] < 34:
            return  # no room: the numbers are a click away
        lines = [f"N {nd['n']:,}"]
        if nd["depth"] == 1 or (self.room[path] >= 54 and self._dy >= 75):
            lines += [f"Q {fmt(nd['q'])}"]
            if nd["p"] is not None:
                lines.append(f"P {fmt(nd['p'], signed=False)}")
            lines.append(f"U {fmt(nd['score'])}")
        p.setPen(MUTED if nd["n"] == 0 else INK)
        p.setFont(_font(11 if nd["depth"] == 1 else 10))
        box = QRectF(c.x() - 40, c.y() + r + 1, 80, 13 * len(lines) + 2)
        p.fillRect(QRectF(c.x() - 29, c.y() + r + 2, 58, 13 * len(lines)), BACKGROUND)  # edges pass under the text
        p.drawText(box, TOP_CENTER, "\n".join(lines))

    def _paint_phase(self, p: QPainter) -> None:
        st, ph = self.step, self.phase
        if st is None or ph < 1:
            return
        drawn = [tuple(st.path[:i]) for i in range(len(st.path) + 1) if tuple(st.path[:i]) in self.centers]
        leaf = drawn[-1]  # the path may go deeper than the drawing does
        c, r = self.centers[leaf], self.radius[leaf]
        color = (EXPAND, EVALUATE, BACKUP)[ph - 1]
        p.setPen(QPen(color, 4))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(c, r + 5, r + 5)
        if len(leaf) < len(st.path):
            self._badge(p, QPointF(c.x() + r + 70, c.y() + 20), f"\u2026 {len(st.path) - len(leaf)} more moves",
                        color)
        if ph == 2:
            self._badge(p, QPointF(c.x() + r + 52, c.y()), f"{st.kind} {st.value:+.2f}", EVALUATE)
        elif ph == 3:
            for q in drawn:
                cc = self.centers[q]
                self._badge(p, QPointF(cc.x() - self.radius[q] - 24, cc.y()), f"{st.backup[len(q)]:+.2f}", BACKUP)

    @staticmethod
    def _badge(p: QPainter, at: QPointF, text: str, color: QColor) -> None:
        p.setFont(_font(11, True))
        w = p.fontMetrics().horizontalAdvance(text) + 10
        rect = QRectF(at.x() - w / 2, at.y() - 9, w, 18)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        p.drawRoundedRect(rect, 5, 5)
        p.setPen(QColor("white"))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    # --- clicks ---------------------------------------------------------------------------------------

    def node_at(self, pt: QPointF) -> tuple[int, ...] | None:
        best, best_d = None, 1e9
        for path, c in self.centers.items():
            d = ((c.x() - pt.x()) ** 2 + (c.y() - pt.y()) ** 2) ** 0.5
            if d <= self.radius[path] + 6 and d < best_d:
                best, best_d = path, d
        return best

    def mousePressEvent(self, ev) -> None:  # noqa: N802
        path = self.node_at(ev.position())
        if path is not None:
            self.nodeClicked.emit(list(path))
