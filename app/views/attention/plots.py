"""What the Attention view draws: the L x H grid of heatmaps, one head enlarged, and the head view.

- AttentionGrid: an L x H grid of heatmaps alpha^(h)_ij (Eq. 11.13), rows = layers, columns = heads, all
  in one GraphicsLayoutWidget; the masked upper triangle is drawn in its own colour.
- AttentionDetail: one head with the tokens on both axes and the exact value on hover.
- HeadView: tokens in two columns, lines from the selected query token to every key, line weight =
  attention, one colour per head (as BertViz does, natively).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from app.colors import (
    BACKGROUND,
    DIVERGING,
    GRID_TOP,
    MASKED,
    diverging_lut,
    grid_lut,
    head_color,
    heat_lut,
    to_indexed,
)
from app.widgets.head_map import cross
from app.widgets.text import shown_token
from engine.tiles import TILE, pooled


class TileAxis(pg.AxisItem):
    """Labels the rows (layers) or columns (heads) of the mosaic at their tile centres, thinned to fit."""

    def __init__(self, orientation: str, what: str) -> None:
        super().__init__(orientation)
        self.what = what
        self.items: list[int] = []  # the layer or head of each tile row / column
        self.pitch = 1.0
        self.setStyle(tickFont=QFont("sans", 8), textFillLimits=[(0, 1.0)])  # every label we pick is drawn
        self.setTextPen("#333")

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
        if not self.items:
            return []
        lo, hi = sorted((minVal, maxVal))
        px = size / max(hi - lo, 1e-9) * self.pitch  # pixels per tile
        room = 24 if self.orientation in ("left", "right") else 56  # a label's height, or its width
        step = max(1, int(np.ceil(room / max(px, 1e-6))))
        first, last = max(0, int(lo / self.pitch)), min(len(self.items) - 1, int(hi / self.pitch) + 1)
        return [(self.pitch, [(i + 0.5) * self.pitch - 0.04 for i in range(first, last + 1) if i % step == 0])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        out = []
        for v in values:
            i = int((v + 0.04) / self.pitch)
            out.append(f"{self.what} {self.items[i]}" if 0 <= i < len(self.items) else "")
        return out


class AttentionGrid(pg.GraphicsLayoutWidget):
    """Every head of every layer as tiles of one mosaic image in one zoomable plot: rows = layers, columns =
    heads (270 heads of a 30-layer model stay one image). The wheel zooms, dragging pans, a click selects a
    head; a tile is the head's matrix, max-pooled to at most ``TILE`` pixels a side for long inputs."""

    panelClicked = Signal(int, int)
    panelClickedWith = Signal(int, int, object)  # layer, head and the keyboard modifiers held (shift-click)
    TILE = TILE
    GAP = 0.08  # between tiles, in tile units

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.left, self.top = TileAxis("left", "layer"), TileAxis("top", "head")
        self.plot = self.addPlot(axisItems={"left": self.left, "top": self.top})
        self.plot.hideAxis("bottom")
        self.plot.showAxis("top")
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(grid_lut())
        self.plot.addItem(self.image)
        self.marker = QGraphicsRectItem()
        self.marker.setPen(pg.mkPen("#d62728", width=3, cosmetic=True))
        self.marker.setZValue(10)
        self.plot.addItem(self.marker)
        self.layers: list[int] = []
        self.heads: list[int] = []
        self.tiles: np.ndarray | None = None  # (rows, cols, t, t) uint8 indexed
        self.selected: tuple[int, int] | None = None
        self.pitch = 1.0  # a tile and its gap, in tile units
        self._fitted: tuple = ()
        self.click_hint = "click to enlarge"
        self.off: set[tuple[int, int]] = set()  # heads drawn crossed out and greyed (switched off)
        self._off_items: list = []
        self.scene().sigMouseClicked.connect(self._clicked)
        self.scene().sigMouseMoved.connect(self._hovered)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.layers), len(self.heads)

    def tile_image(self, layer: int, head: int) -> np.ndarray:
        """The indexed image of one head's tile (tests)."""
        assert self.tiles is not None
        return self.tiles[self.layers.index(layer), self.heads.index(head)]

    def show_matrices(self, mats: np.ndarray, lo: float, hi: float, layers: list[int] | None = None,
                      heads: list[int] | None = None, causal: bool = False) -> None:
        """mats (L, H, T, T) (non-finite cells are masked; with ``causal`` also those above the diagonal): the
        tiles of ``layers`` x ``heads`` (default all). Long inputs come already pooled (engine.tiles, in the
        engine thread): then ``mats`` are the (L, H, t, t) tiles."""
        L, H, T, _ = mats.shape
        self.layers = list(range(L)) if layers is None else [i for i in layers if 0 <= i < L]
        self.heads = list(range(H)) if heads is None else [h for h in heads if 0 <= h < H]
        rows, cols = len(self.layers), len(self.heads)
        t = min(T, self.TILE)
        tiles = np.full((rows, cols, t, t), MASKED, dtype=np.uint8)
        for r, layer in enumerate(self.layers):  # a layer at a time: all its heads in one go, bounded memory
            block = mats[layer, self.heads]  # (heads, T, T)
            tile = pooled(block, self.TILE, causal)
            tiles[r, :, : tile.shape[-2], : tile.shape[-1]] = to_indexed(tile, lo, hi, top=GRID_TOP)
        self.tiles = tiles
        gap = max(1, round(self.GAP * t))
        mosaic = np.full((rows * (t + gap) - gap if rows else 1, cols * (t + gap) - gap if cols else 1), BACKGROUND,
                         dtype=np.uint8)
        for r in range(rows):
            for c in range(cols):
                mosaic[r * (t + gap): r * (t + gap) + t, c * (t + gap): c * (t + gap) + t] = tiles[r, c]
        self.pitch = (t + gap) / t  # tile units: a tile is 1.0 wide
        self.image.setImage(mosaic, levels=(0, 255), autoLevels=False)
        self.image.setRect(QRectF(0, 0, mosaic.shape[1] / t, mosaic.shape[0] / t))
        for axis, items in ((self.left, self.layers), (self.top, self.heads)):
            axis.items, axis.pitch = items, self.pitch
            axis.picture = None
            axis.update()
        key = (rows, cols)
        if key != self._fitted:  # a new arrangement: show it all; the same one keeps the user's zoom
            self._fitted = key
            self.plot.setRange(QRectF(0, 0, mosaic.shape[1] / t, mosaic.shape[0] / t), padding=0.02)
        self.mark_selected(self.selected)
        self.mark_off(self.off)

    def mark_off(self, heads: set[tuple[int, int]]) -> None:
        """Grey and cross out the tiles of ``heads`` (layer, head): heads switched off."""
        self.off = set(heads)
        for item in self._off_items:
            self.plot.removeItem(item)
        self._off_items = []
        for layer, head in sorted(self.off):
            if layer not in self.layers or head not in self.heads:
                continue
            r, c = self.layers.index(layer), self.heads.index(head)
            x, y = c * self.pitch, r * self.pitch
            shade = QGraphicsRectItem(QRectF(x, y, 1.0, 1.0))
            shade.setBrush(QColor(235, 235, 235, 190))
            shade.setPen(pg.mkPen(None))
            for z, item in ((8, shade), (9, cross(x, y, 0.08, "#b00020", 3))):
                item.setZValue(z)
                self.plot.addItem(item)
                self._off_items.append(item)

    def mark_selected(self, sel: tuple[int, int] | None) -> None:
        self.selected = sel
        if sel is None or sel[0] not in self.layers or sel[1] not in self.heads:
            self.marker.hide()
            return
        r, c = self.layers.index(sel[0]), self.heads.index(sel[1])
        self.marker.setRect(QRectF(c * self.pitch - 0.03, r * self.pitch - 0.03, 1.06, 1.06))
        self.marker.show()

    def tile_at(self, scene_pos) -> tuple[int, int] | None:
        p = self.plot.vb.mapSceneToView(scene_pos)
        if not self.layers or not self.heads or p.x() < 0 or p.y() < 0:
            return None
        c, r = int(p.x() / self.pitch), int(p.y() / self.pitch)
        inside = p.x() - c * self.pitch <= 1.0 and p.y() - r * self.pitch <= 1.0
        if r < len(self.layers) and c < len(self.heads) and inside:
            return self.layers[r], self.heads[c]
        return None

    def _clicked(self, ev) -> None:
        if ev.button() == Qt.MouseButton.LeftButton:
            hit = self.tile_at(ev.scenePos())
            if hit is not None:
                self.panelClicked.emit(*hit)
                self.panelClickedWith.emit(*hit, ev.modifiers())

    def _hovered(self, pos) -> None:
        hit = self.tile_at(pos)
        off = " (switched off)" if hit in self.off else ""
        self.setToolTip(f"layer {hit[0]}, head {hit[1]}{off}: {self.click_hint}" if hit else
                        f"the wheel zooms, dragging pans; {self.click_hint}")


class TokenAxis(pg.AxisItem):
    """An axis that labels integer positions with tokens (thinned when they would overlap)."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.tokens: list[str] = []
        self.font = QFont("monospace", 8)
        self.setStyle(tickFont=self.font, textFillLimits=[(0, 1.0)])  # every label we pick is drawn
        self.setTextPen("#333")

    def room(self, lo: int, hi: int) -> float:
        """Pixels a label needs along the axis: its height on a vertical axis, the widest visible token's width
        (BPE and word tokens are several characters) on a horizontal one."""
        fm = QFontMetricsF(self.font)
        if self.orientation in ("left", "right"):
            return fm.height() + 2
        visible = self.tokens[lo: hi + 1][:2000]
        return max((fm.horizontalAdvance(shown_token(t)) for t in visible), default=8.0) + 6

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
        if not self.tokens:
            return []
        minVal, maxVal = sorted((minVal, maxVal))  # an inverted axis passes them the other way round
        span = max(1.0, maxVal - minVal)
        px_per_tick = size / span
        lo, hi = max(0, int(minVal)), min(len(self.tokens) - 1, int(maxVal) + 1)
        step = max(1, int(np.ceil(self.room(lo, hi) / max(px_per_tick, 1e-6))))
        return [(step, [i + 0.5 for i in range(lo - lo % step, hi + 1, step)])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        out = []
        for v in values:
            i = int(v)
            out.append(shown_token(self.tokens[i]) if 0 <= i < len(self.tokens) else "")
        return out


class AttentionDetail(pg.GraphicsLayoutWidget):
    """One head enlarged: tokens on both axes (query rows, key columns), the exact value on hover."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.left, self.bottom = TokenAxis("left"), TokenAxis("bottom")
        self.plot = self.addPlot(axisItems={"left": self.left, "bottom": self.bottom})
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setLabel("left", "query i")
        self.plot.setLabel("bottom", "key j")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(heat_lut())
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"), interactive=False,
                                        width=12)
        self.addItem(self.colorbar)
        self.title = ""
        self.values: np.ndarray | None = None
        self.causal, self.names = False, ("query", "key")
        self.diverging = False
        self.tokens: list[str] = []
        self.hover_text = ""
        self.image.hoverEvent = self._hover

    def show_matrix(self, mat: np.ndarray, tokens: list[str], lo: float, hi: float, title: str,
                    causal: bool = False, names: tuple[str, str] = ("query", "key"),
                    axis_labels: tuple[list[str], list[str]] | None = None, diverging: bool = False) -> None:
        """``diverging``: a blue - white - red map with white at zero (give symmetric ``lo``, ``hi``: a
        difference); ``causal``: the upper triangle is masked (hovering there says so); ``names``: what rows and columns
        are, for the hover text ("query"/"key" for attention, "sentence"/"sentence" for a similarity matrix);
        ``axis_labels``: (rows, columns) to print on the axes instead of ``tokens`` (the hover keeps these)."""
        self.values = mat
        self.tokens = tokens
        self.causal, self.names = causal, names
        self.left.tokens, self.bottom.tokens = axis_labels or (tokens, tokens)
        if diverging != self.diverging:
            self.diverging = diverging
            self.image.setLookupTable(diverging_lut() if diverging else heat_lut())
            self.colorbar.setColorMap(pg.colormap.get(DIVERGING if diverging else "viridis"))
        self.image.setImage(to_indexed(mat, lo, hi), levels=(0, 255), autoLevels=False)
        self.colorbar.setLevels((lo, hi))
        T = mat.shape[0]
        self.plot.setRange(QRectF(0, 0, T, T), padding=0.02)
        self.title = title
        self.plot.setTitle(title)
        self.left.picture = self.bottom.picture = None
        self.left.update()
        self.bottom.update()

    def _hover(self, ev) -> None:
        if ev.isExit() or self.values is None:
            self.plot.setTitle(self.title)
            return
        pos = ev.pos()
        i, j = int(pos.y()), int(pos.x())
        T = self.values.shape[0]
        if 0 <= i < T and 0 <= j < T:
            v = self.values[i, j]
            tok = self.tokens
            value = "masked (future token)" if self.causal and (not np.isfinite(v) or j > i) else f"{v:.4f}"
            row, col = self.names
            self.hover_text = f"{row} {i} '{shown_token(tok[i])}' -> {col} {j} '{shown_token(tok[j])}': {value}"
            self.plot.setTitle(self.hover_text)


class HeadView(QWidget):
    """Two columns of tokens; lines from the selected query to each key, width = attention, colour = head."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumSize(300, 200)
        self.tokens: list[str] = []
        self.weights: np.ndarray | None = None  # (H, T, T): one layer's heads
        self.layer = 0
        self.query = 0
        self.heads_on: list[bool] = []
        self.setMouseTracking(True)

    def set_layer(self, tokens: list[str], weights: np.ndarray, layer: int) -> None:
        """One layer's heads (H, T, T) on ``tokens``."""
        self.tokens, self.weights, self.layer = tokens, weights, layer
        H, T, _ = weights.shape
        if len(self.heads_on) != H:
            self.heads_on = [True] * H
        self.query = min(self.query, T - 1) if self.query else T - 1
        self.update()

    def _row_y(self, i: int, T: int) -> float:
        top, bottom = 24.0, self.height() - 12.0
        return top + (bottom - top) * (i + 0.5) / max(T, 1)

    def mousePressEvent(self, ev) -> None:  # noqa: N802
        if self.weights is None:
            return
        T = self.weights.shape[-1]
        y = ev.position().y()
        best = min(range(T), key=lambda i: abs(self._row_y(i, T) - y))
        self.query = best
        self.update()

    def paintEvent(self, ev) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.white)
        if self.weights is None:
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        att = self.weights  # (H, T, T)
        H, T, _ = att.shape
        font = QFont("monospace", max(6, min(11, int((self.height() - 36) / max(T, 1)) - 2)))
        p.setFont(font)
        x_left, x_right = self.width() * 0.3, self.width() * 0.7
        p.setPen(Qt.GlobalColor.black)
        p.drawText(QPointF(x_left - 70, 14), "query")
        p.drawText(QPointF(x_right + 10, 14), "key")
        for i, tok in enumerate(self.tokens):
            y = self._row_y(i, T)
            p.setPen(QPen(Qt.GlobalColor.red if i == self.query else Qt.GlobalColor.black))
            label = shown_token(tok)
            width = p.fontMetrics().horizontalAdvance(label)
            p.drawText(QPointF(x_left - 8 - width, y + 4), label)
            p.setPen(QPen(Qt.GlobalColor.black))
            p.drawText(QPointF(x_right + 8, y + 4), label)
        y_q = self._row_y(self.query, T)
        for h in range(H):
            if not self.heads_on[h]:
                continue
            color = head_color(h)
            for j in range(T):
                w = float(att[h, self.query, j])
                if w < 0.01:
                    continue
                color.setAlphaF(min(1.0, 0.25 + 0.75 * w))
                p.setPen(QPen(color, max(0.5, 8.0 * w)))
                p.drawLine(QPointF(x_left, y_q), QPointF(x_right, self._row_y(j, T)))
        p.end()


