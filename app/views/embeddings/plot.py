"""The scatter of the Embeddings view: one point per word of a 2-D or 3-D layout, coloured by frequency,
cluster or neighbour disagreement, with labels that never overlap, a hover tip, and overlays for a
selected word's neighbours (seed 002, Eq. 11.1) and an analogy's parallelogram (Eq. 11.2).

A 3-D layout is shown through an orthographic camera (embedding_orbit) on the same 2-D plot: ``coords``
are always the points' screen positions, so labels, hover, clicks, lines and zoom work alike in both.
The points are drawn far to near, the far ones smaller and paler (fogged towards the white background).

Labels: the selected and searched words, a word's neighbours and the analogy's words are always
labelled ("pinned"); then the most frequent words in view, skipping any label that would overlap one
already placed, up to the chosen number. Zooming in frees room, so more words get their label (as in
TensorBoard's projector).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsPolygonItem

from app.colors import HEAD_COLORS
from app.views.embeddings.orbit import OrbitMixin, OrbitViewBox

LABEL_CANDIDATES = 600  # most frequent words considered for a label (pinned words always are)
LABEL_POOL = 160  # text items kept and reused
N_SHADES = 64  # distinct brushes for continuous colours (pyqtgraph caches one sprite per brush)
KEPT_PEN = pg.mkPen("#2ca02c", width=2)  # true neighbour, also near on the screen
LOST_PEN = pg.mkPen("#d62728", width=2, style=Qt.PenStyle.DashLine)  # true neighbour the projection put far
SCREEN_ONLY_PEN = pg.mkPen("#ff7f0e", width=2.5)  # near on the screen only
LOST_RING_PEN = pg.mkPen("#d62728", width=2)
SELECTED_LABEL_FILL = pg.mkBrush(255, 236, 150, 235)
LABEL_FILL = pg.mkBrush(255, 255, 255, 95)
SIDE_PEN = pg.mkPen("#6a3d9a", width=3)  # the two sides a -> b and d -> c of the parallelogram
OTHER_SIDE_PEN = pg.mkPen((106, 61, 154, 150), width=1.5, style=Qt.PenStyle.DashLine)
POINT_PEN = pg.mkPen(255, 255, 255, 160, width=0.6)
DEPTH_LEVELS = 8  # 3-D: distinct sizes and fog shades from the farthest points to the nearest
FAR_SIZE, NEAR_SIZE = 4.5, 11.0  # pixels
FAR_FOG = 0.62  # the farthest points' colour, this far towards the white background


def colormap(name: str) -> pg.ColorMap:
    """A pyqtgraph colour map by name; a "_r" suffix reverses it."""
    cmap = pg.colormap.get(name.removesuffix("_r"))
    if name.endswith("_r"):
        lut = cmap.getLookupTable(0.0, 1.0, 256, alpha=False)
        cmap = pg.ColorMap(np.linspace(0.0, 1.0, 256), lut[::-1])
    return cmap


@dataclass
class Colouring:
    """Colours of the points: continuous ``values`` on a colour map with a bar, or integer ``labels``."""

    mode: str  # "frequency" | "cluster" | "disagreement"
    values: np.ndarray  # (n,) floats, or ints for clusters
    title: str  # colour bar label / legend title
    levels: tuple[float, float] = (0.0, 1.0)
    cmap: str = "viridis"


@dataclass
class Parallelogram:
    """Screen positions of an analogy's words: a - b + c = d (answer), and the exact target a - b + c
    (PCA only: t-SNE is not a linear map, so the target has no place on its screen)."""

    words: dict[str, str]  # role ("a", "b", "c", "d") -> word
    points: dict[str, tuple[float, ...]]  # role -> (x, y) or (x, y, z): layout coordinates
    target: tuple[float, ...] | None


class EmbeddingScatter(OrbitMixin, pg.PlotWidget):
    """Points, labels, colour bar or legend, neighbour lines and the analogy parallelogram."""

    pointClicked = Signal(int)

    def __init__(self) -> None:
        super().__init__(background="w", viewBox=OrbitViewBox())
        self.plot_item = self.getPlotItem()
        self.plot_item.showGrid(x=True, y=True, alpha=0.15)
        self.plot_item.vb.disableAutoRange()  # the view decides when to fit (not on every animation frame)
        # pyqtgraph's LabelItem makes its text width the minimum width of the plot's layout, so a long title
        # pushed the colour bar out of the widget; this title asks for its height only
        title = self.plot_item.titleLabel

        def title_min() -> None:
            height = title.itemRect().height()
            title.setMinimumWidth(0)
            title.setMinimumHeight(height)
            title._sizeHint = {Qt.SizeHint.MinimumSize: (0, height), Qt.SizeHint.PreferredSize: (0, height),
                               Qt.SizeHint.MaximumSize: (-1, -1), Qt.SizeHint.MinimumDescent: (0, 0)}
            title.updateGeometry()

        title.updateMin = title_min
        for side in ("left", "bottom"):
            self.getAxis(side).setTextPen("#333")
            self.getAxis(side).enableAutoSIPrefix(False)
        self.setMenuEnabled(False)
        self.words: list[str] = []
        self.layout_coords = np.zeros((0, 2), np.float32)  # (n, 2) or (n, 3): the layout shown
        self.coords = np.zeros((0, 2), np.float32)  # (n, 2): where the points are drawn (the 2-D layout itself)
        self.depth = np.zeros(0)  # 3-D: towards the viewer, -1 (farthest possible) .. 1 (nearest)
        self._keys = np.zeros(0, np.int64)  # each point's colour: an index into _palette
        self._palette = np.zeros((0, 3))
        self._alpha = 235
        self._brush_cache: dict[tuple[int, int], QBrush] = {}
        self.tip_text: Callable[[int], str] = lambda i: self.words[i]
        self.colouring: Colouring | None = None
        self.forced: list[int] = []  # always labelled (the selected word)
        self.preferred: list[int] = []  # labelled before frequent words where they fit (its neighbours)
        self.max_labels = 40
        self.selected: int | None = None

        self.para_fill = QGraphicsPolygonItem()
        self.para_fill.setBrush(QBrush(QColor(106, 61, 154, 28)))
        self.para_fill.setPen(QPen(Qt.PenStyle.NoPen))
        self.para_fill.setVisible(False)
        self.addItem(self.para_fill)
        self.para_other = pg.PlotCurveItem(pen=OTHER_SIDE_PEN, connect="pairs")
        self.para_sides = pg.PlotCurveItem(pen=SIDE_PEN, connect="pairs")
        self.kept_lines = pg.PlotCurveItem(pen=KEPT_PEN, connect="pairs")
        self.lost_lines = pg.PlotCurveItem(pen=LOST_PEN, connect="pairs")
        for item in (self.para_other, self.para_sides, self.kept_lines, self.lost_lines):
            self.addItem(item)
        self.scatter = pg.ScatterPlotItem(hoverable=True, tip=self._tip, hoverSize=13,
                                          hoverPen=pg.mkPen("k", width=1.5), pxMode=True)
        self.scatter.sigClicked.connect(self._clicked)
        self.addItem(self.scatter)
        self.rings = pg.ScatterPlotItem(pxMode=True)  # neighbour and selection markers, above the points
        self.addItem(self.rings)
        self.target = pg.ScatterPlotItem(symbol="star", size=18, pen=pg.mkPen("#6a3d9a", width=1.5),
                                         brush=pg.mkBrush(255, 255, 255, 200), tip=None)
        self.addItem(self.target)
        self.para_points: dict[str, tuple[float, ...]] = {}
        self.para_words: dict[str, str] = {}
        self._para_target: tuple[float, ...] | None = None
        self._selection: tuple[list[int], list[int], list[int]] = ([], [], [])

        self.labels: list[pg.TextItem] = []
        self.label_fonts = (QFont("sans", 9, QFont.Weight.Normal), QFont("sans", 9, QFont.Weight.Bold))  # [bold?]
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"), interactive=False,
                                   width=14, pen="#999", label="")
        self.plot_item.layout.addItem(self.bar, 2, 5)
        self.legend = self._new_legend()  # clusters
        self.overlay_legend = self._new_legend()  # neighbour lines, parallelogram
        self._relayout = QTimer(self)
        self._relayout.setSingleShot(True)
        self._relayout.setInterval(40)  # re-place labels at most 25 times a second while zooming
        self._relayout.timeout.connect(self.place_labels)
        self._relayout.timeout.connect(self.arrange_legends)
        self.plot_item.vb.sigRangeChanged.connect(lambda *_: self._relayout.start())
        self.init_orbit()

    def _new_legend(self) -> pg.LegendItem:
        legend = pg.LegendItem(labelTextColor="#222", labelTextSize="8pt", brush=pg.mkBrush(255, 255, 255, 225),
                               pen=pg.mkPen("#bbb"), verSpacing=-4)
        legend.setParentItem(self.plot_item.vb)
        legend.setVisible(False)
        return legend

    def arrange_legends(self) -> None:
        """Put each visible legend in the corner of the plot that covers the fewest points (the selected
        word and its neighbours count as many)."""
        vb = self.plot_item.vb
        w, h = vb.width(), vb.height()
        (x0, x1), (y0, y1) = vb.viewRange()
        px = (self.coords[:, 0] - x0) / ((x1 - x0) or 1.0) * w
        py = (y1 - self.coords[:, 1]) / ((y1 - y0) or 1.0) * h
        weight = np.ones(len(self.coords))
        weight[[r for r in (*self.forced, *self.preferred) if r < len(weight)]] = 25.0
        free = ["top-right", "bottom-left", "top-left", "bottom-right"]
        if self.three:
            free.remove("bottom-left")  # the axis gizmo's
        for legend in (self.legend, self.overlay_legend):
            if not legend.isVisible():
                continue
            lw, lh = legend.boundingRect().width() + 8, legend.boundingRect().height() + 8

            def covered(corner: str, lw: float = lw, lh: float = lh) -> float:
                in_x = px > w - lw if "right" in corner else px < lw
                in_y = py < lh if "top" in corner else py > h - lh
                return float(weight[in_x & in_y].sum())

            corner = min(free, key=covered)
            free.remove(corner)
            ix = 1 if "right" in corner else 0
            iy = 0 if "top" in corner else 1
            legend.anchor(itemPos=(ix, iy), parentPos=(ix, iy), offset=(-6 if ix else 6, 6 if iy == 0 else -6))

    # --- data ------------------------------------------------------------------------------------

    def set_points(self, words: list[str], coords: np.ndarray, colouring: Colouring, keep_range: bool) -> None:
        """Show a 2-D or 3-D layout. ``keep_range`` keeps the zoom and, in 3-D, the camera's centre
        (animation frames); the camera's angle stays until "reset view"."""
        self.words = list(words)
        self.layout_coords = np.asarray(coords, np.float32)
        three = self.layout_coords.shape[1] == 3
        if three != self.three:
            self._set_mode(three)
            keep_range = False
        if three:
            self.centre_camera(move=not keep_range)
        self.colouring = colouring
        self._colour_keys(colouring)
        self._project()
        self._draw_points()
        self._show_scale(colouring)
        if not keep_range:
            self.fit()
        self.refresh_overlays()  # also places the labels and the legends

    def set_colouring(self, colouring: Colouring) -> None:
        self.colouring = colouring
        self._colour_keys(colouring)
        if self.three:  # the points are drawn far to near: their brushes follow that order
            self._draw_points()
        else:
            self.scatter.setBrush([self._brush(k, DEPTH_LEVELS - 1) for k in self._keys])
        self._show_scale(colouring)
        self.arrange_legends()

    def _colour_keys(self, c: Colouring) -> None:
        """Each point's colour as an index into a small palette (cluster colours, or N_SHADES steps of the
        colour map), so a few brushes serve every point (pyqtgraph caches one sprite per brush)."""
        n = len(self.words)
        if c.mode == "cluster":
            k = int(c.values.max(initial=0)) + 1
            self._palette = np.array([pg.mkColor(HEAD_COLORS[i % len(HEAD_COLORS)]).getRgb()[:3] for i in range(k)])
            self._keys = np.asarray(c.values[:n]).astype(np.int64)
            self._alpha = 255
        else:
            self._palette = colormap(c.cmap).getLookupTable(0.0, 1.0, N_SHADES, alpha=False)
            lo, hi = c.levels
            scaled = np.clip((np.asarray(c.values[:n], np.float64) - lo) / ((hi - lo) or 1.0), 0, 1)
            self._keys = np.rint(scaled * (N_SHADES - 1)).astype(np.int64)
            self._alpha = 235
        self._brush_cache.clear()

    def _brush(self, key: int, level: int) -> QBrush:
        """The brush of palette colour ``key`` at depth ``level`` (DEPTH_LEVELS - 1: nearest, unfogged)."""
        brush = self._brush_cache.get((key, level))
        if brush is None:
            fog = FAR_FOG * (1.0 - level / (DEPTH_LEVELS - 1))
            rgb = np.asarray(self._palette[key], np.float64) * (1.0 - fog) + 255.0 * fog
            brush = self._brush_cache[(key, level)] = pg.mkBrush(*(int(round(v)) for v in rgb), self._alpha)
        return brush

    def fit(self) -> None:
        """The whole layout in view (in 3-D as seen from the current angle)."""
        self.autoRange(padding=0.06)

    def _draw_points(self) -> None:
        n = len(self.words)
        if not self.three:
            self.scatter.setData(x=self.coords[:, 0], y=self.coords[:, 1], data=np.arange(n),
                                 brush=[self._brush(k, DEPTH_LEVELS - 1) for k in self._keys[:n]], size=8,
                                 pen=POINT_PEN)
            return
        order = np.argsort(self.depth, kind="stable")  # far to near: the nearest are drawn last, on top
        levels = np.rint((self.depth[order] + 1.0) / 2.0 * (DEPTH_LEVELS - 1)).astype(np.int64)
        levels = np.clip(levels, 0, DEPTH_LEVELS - 1)
        sizes = FAR_SIZE + (NEAR_SIZE - FAR_SIZE) * levels / (DEPTH_LEVELS - 1)
        brushes = [self._brush(k, lv) for k, lv in zip(self._keys[order].tolist(), levels.tolist(), strict=True)]
        self.scatter.setData(x=self.coords[order, 0], y=self.coords[order, 1], data=order, brush=brushes,
                             size=sizes, pen=POINT_PEN)

    def _show_scale(self, c: Colouring) -> None:
        if c.mode == "cluster":
            self.bar.setVisible(False)
            k = int(c.values.max(initial=0)) + 1
            sizes = np.bincount(c.values.astype(int), minlength=k)
            if getattr(self, "_cluster_sizes", None) == sizes.tolist() and self.legend.isVisible():
                return
            self._cluster_sizes = sizes.tolist()
            self.legend.clear()
            for i in range(k):
                sample = pg.ScatterPlotItem(brush=pg.mkBrush(HEAD_COLORS[i % len(HEAD_COLORS)]), size=9, pen=None)
                self.legend.addItem(sample, f"cluster {i + 1} ({sizes[i]})")
            self.legend.setVisible(True)
        else:
            self.legend.setVisible(False)
            self._cluster_sizes = None
            self.bar.setColorMap(colormap(c.cmap))
            self.bar.setLevels(c.levels)
            self.bar.axis.setLabel(c.title, color="#333")
            self.bar.setVisible(True)

    # --- overlays ----------------------------------------------------------------------------------

    def set_selection(self, selected: int | None, kept: list[int], lost: list[int], screen_only: list[int]) -> None:
        """Lines from ``selected`` to its true (cosine) neighbours: solid when the projection kept them
        near, dashed when it put them far; rings around words that are near on the screen only."""
        self.selected = selected
        self._selection = (kept, lost, screen_only)
        self.refresh_overlays()

    def set_parallelogram(self, para: Parallelogram | None) -> None:
        self.para_points = dict(para.points) if para else {}
        self.para_words = dict(para.words) if para else {}
        self._para_target = para.target if para else None
        self.refresh_overlays()

    def refresh_overlays(self) -> None:
        c = self.coords
        screen = {role: tuple(self.to_screen(pos)[0]) for role, pos in self.para_points.items()}
        kept, lost, screen_only = self._selection
        sel = self.selected if self.selected is not None and self.selected < len(c) else None

        def pairs(rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
            rows = [r for r in rows if r < len(c)]
            if sel is None or not rows:
                return np.zeros(0), np.zeros(0)
            xs = np.ravel([(c[sel, 0], c[r, 0]) for r in rows])
            ys = np.ravel([(c[sel, 1], c[r, 1]) for r in rows])
            return xs, ys

        self.kept_lines.setData(*pairs(kept))
        self.lost_lines.setData(*pairs(lost))
        spots = []
        if sel is not None:
            for r in screen_only:
                if r < len(c):
                    spots.append({"pos": c[r], "size": 15, "pen": SCREEN_ONLY_PEN, "brush": None})
            for r in kept:
                if r < len(c):
                    spots.append({"pos": c[r], "size": 13, "pen": KEPT_PEN, "brush": None})
            for r in lost:
                if r < len(c):
                    spots.append({"pos": c[r], "size": 13, "pen": LOST_RING_PEN, "brush": None})
            spots.append({"pos": c[sel], "size": 17, "pen": pg.mkPen("k", width=2.5), "brush": pg.mkBrush("#ffd92f")})
        self.rings.setData(spots)
        p = screen
        if len(p) == 4:
            a, b, cc, d = (p[k] for k in "abcd")
            # b -> a and c -> d are the same offset in an ideal analogy (Eq. 11.2): the two drawn sides
            self.para_sides.setData([b[0], a[0], cc[0], d[0]], [b[1], a[1], cc[1], d[1]])
            self.para_other.setData([b[0], cc[0], a[0], d[0]], [b[1], cc[1], a[1], d[1]])
            self.para_fill.setPolygon(QPolygonF([QPointF(*b), QPointF(*a), QPointF(*d), QPointF(*cc)]))
            self.para_fill.setVisible(True)
            t = tuple(self.to_screen(self._para_target)[0]) if self._para_target is not None else None
            self.target.setData([t[0]] if t else [], [t[1]] if t else [])
        else:
            for item in (self.para_sides, self.para_other):
                item.setData([], [])
            self.para_fill.setVisible(False)
            self.target.setData([], [])
        self._overlay_legend(sel is not None, len(p) == 4)
        self.place_labels()
        self.arrange_legends()

    def _overlay_legend(self, neighbours: bool, analogy: bool) -> None:
        state = (neighbours, analogy, self._para_target is not None, self.three)
        if state == getattr(self, "_legend_state", None):
            return  # unchanged: no new legend items on every animation frame
        self._legend_state = state
        self.overlay_legend.clear()
        if neighbours:
            where = "in 3-D" if self.three else "on screen"
            self.overlay_legend.addItem(pg.PlotDataItem(pen=KEPT_PEN), f"true neighbour, near {where}")
            self.overlay_legend.addItem(pg.PlotDataItem(pen=LOST_PEN), f"true neighbour, far {where}")
            self.overlay_legend.addItem(pg.ScatterPlotItem(pen=SCREEN_ONLY_PEN, brush=None, size=12),
                                        f"near {where} only")
        if analogy:
            self.overlay_legend.addItem(pg.PlotDataItem(pen=SIDE_PEN), "b \u2192 a and c \u2192 answer")
            if self._para_target is not None:
                self.overlay_legend.addItem(self.target, "a \u2212 b + c (exact)")
        self.overlay_legend.setVisible(neighbours or analogy)

    # --- labels ----------------------------------------------------------------------------------

    def _label(self, i: int) -> pg.TextItem:
        while len(self.labels) <= i:
            t = pg.TextItem("", anchor=(-0.06, 0.95), color=(25, 25, 25))
            t.setZValue(20)
            self.addItem(t)
            self.labels.append(t)
        return self.labels[i]

    def place_labels(self) -> None:
        """Forced labels (analogy roles, the selected word), then preferred ones (its neighbours), then
        the most frequent words in view, each skipped if it would overlap one placed (screen pixels)."""
        vb = self.plot_item.vb
        (x0, x1), (y0, y1) = vb.viewRange()
        w, h = max(vb.width(), 1.0), max(vb.height(), 1.0)
        sx, sy = w / ((x1 - x0) or 1.0), h / ((y1 - y0) or 1.0)
        c, n = self.coords, len(self.coords)
        para_words = set(self.para_words.values())
        # x, y, text, priority (0 forced, 1, 2), grey level of the text (3-D: the farther, the paler)
        candidates: list[tuple[float, float, str, int, int]] = []
        for role, word in self.para_words.items():
            if (pos := self.para_points.get(role)) is not None:
                x, y = self.to_screen(pos)[0]
                candidates.append((float(x), float(y), f"{word} ({'answer' if role == 'd' else role})", 0, 25))
        grey = np.rint(25 + 115 * (1 - self.depth) / 2).astype(int) if self.three else np.full(n, 25)
        seen: set[int] = set()
        for prio, rows in ((0, self.forced), (1, self.preferred), (2, range(min(n, LABEL_CANDIDATES)))):
            for r in rows:
                if r < n and r not in seen and self.words[r] not in para_words:
                    seen.add(r)
                    candidates.append((float(c[r, 0]), float(c[r, 1]), self.words[r], prio,
                                       int(grey[r]) if prio == 2 else 25))
        placed: list[tuple[float, float, float, float]] = []
        shown: list[tuple[float, float, str, int, tuple[float, float], int]] = []
        frequent = 0
        for x, y, text, prio, level in candidates:
            if not (x0 <= x <= x1 and y0 <= y <= y1):
                continue
            if prio == 2 and frequent >= self.max_labels:
                break
            px, py = (x - x0) * sx, (y1 - y) * sy
            width, height = 7.0 * len(text) + 6, 15.0
            options = []  # right-above, left-above, right-below, left-below; inside the plot only
            for right, above in ((True, True), (False, True), (True, False), (False, False)):
                bx = px if right else px - width
                by = py - height if above else py
                if 0 <= bx and bx + width <= w:
                    anchor = (-0.06 if right else 1.06, 0.95 if above else 0.05)
                    options.append(((bx, by, bx + width, by + height), anchor))
            free_options = [o for o in options if not any(o[0][0] < q[2] and q[0] < o[0][2] and o[0][1] < q[3]
                                                          and q[1] < o[0][3] for q in placed)]
            if free_options:
                box, anchor = free_options[0]
            elif prio == 0 and options:  # always labelled, even on top of another label
                box, anchor = options[0]
            else:
                continue
            placed.append(box)
            shown.append((x, y, text, prio, anchor, level))
            frequent += prio == 2
        for i, (x, y, text, prio, anchor, level) in enumerate(shown):
            t = self._label(i)
            t.setAnchor(anchor)
            if getattr(t, "grey", None) != level:
                t.grey = level
                t.setColor((level, level, level))
            t.fill = SELECTED_LABEL_FILL if prio == 0 else LABEL_FILL
            t.setFont(self.label_fonts[prio < 2])
            t.setText(text)
            t.setPos(x, y)
            t.setVisible(True)
        for t in self.labels[len(shown):]:
            t.setVisible(False)
        self.shown_labels = [text for _, _, text, _, _, _ in shown]

    # --- interaction -----------------------------------------------------------------------------

    def _tip(self, x: float, y: float, data) -> str:  # type: ignore[no-untyped-def]
        return self.tip_text(int(data))

    def _clicked(self, _item, points, _ev) -> None:  # type: ignore[no-untyped-def]
        if len(points):
            self.pointClicked.emit(int(points[0].data()))

    def set_title(self, text: str) -> None:
        """A title that never widens the plot (LabelItem makes its text width a minimum of the layout)."""
        self.setTitle(text, color="#222", size="10pt")
        self.plot_item.titleLabel.item.setToolTip(text)

    def focus(self, points: np.ndarray, margin: float = 0.25) -> None:
        """Fit the view to screen positions ``points`` (n, 2; :meth:`to_screen` of layout points) with a
        margin, no smaller than a tenth of the whole layout."""
        pts = np.asarray(points, np.float64)
        lo, hi = pts.min(0), pts.max(0)
        full = np.ptp(self.coords, axis=0) if len(self.coords) > 1 else np.ones(2)
        size = np.maximum((hi - lo) * (1 + 2 * margin), np.maximum(full / 10, 1e-6))
        mid = (lo + hi) / 2
        self.setRange(xRange=(mid[0] - size[0] / 2, mid[0] + size[0] / 2),
                      yRange=(mid[1] - size[1] / 2, mid[1] + size[1] / 2), padding=0)
