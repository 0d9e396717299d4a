"""What the Attention view draws: the L x H grid of heatmaps, one head enlarged, and the head view.

- AttentionGrid: an L x H grid of heatmaps alpha^(h)_ij (Eq. 11.13), rows = layers, columns = heads, all
  in one GraphicsLayoutWidget; the masked upper triangle is drawn in its own colour.
- AttentionDetail: one head with the tokens on both axes and the exact value on hover.
- HeadView: tokens in two columns, lines from the selected query token to every key, line weight =
  attention, one colour per head (as BertViz does, natively).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.colors import head_color, heat_lut, to_indexed
from app.widgets.text import shown_token


class _Panel(pg.ImageItem):
    """A heatmap that reports clicks as (layer, head)."""

    def __init__(self, layer: int, head: int, on_click) -> None:
        super().__init__(axisOrder="row-major")
        self.layer, self.head, self._on_click = layer, head, on_click

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        if ev.button() == Qt.MouseButton.LeftButton:
            self._on_click(self.layer, self.head)
            ev.accept()


class AttentionGrid(pg.GraphicsLayoutWidget):
    """All L x H heatmaps in one GraphicsLayoutWidget (many ViewBoxes, not many widgets)."""

    panelClicked = Signal(int, int)

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.lut = heat_lut()
        self.panels: list[list[_Panel]] = []
        self.boxes: list[list[pg.ViewBox]] = []
        self.shape: tuple[int, int] = (0, 0)
        self.selected: tuple[int, int] | None = None

    def build(self, L: int, H: int) -> None:
        if (L, H) == self.shape:
            return
        self.clear()
        self.panels, self.boxes = [], []
        for h in range(H):
            self.addLabel(f"head {h}", row=0, col=h + 1, size="8pt", color="#333")
        for layer in range(L):
            self.addLabel(f"layer {layer}", row=layer + 1, col=0, angle=-90, size="8pt", color="#333")
            row_p, row_b = [], []
            for h in range(H):
                vb = self.addViewBox(row=layer + 1, col=h + 1, lockAspect=True, invertY=True, enableMenu=False)
                vb.setBorder(pg.mkPen("#bbb"))
                img = _Panel(layer, h, self.panelClicked.emit)
                img.setLookupTable(self.lut)
                vb.addItem(img)
                row_p.append(img)
                row_b.append(vb)
            self.panels.append(row_p)
            self.boxes.append(row_b)
        self.shape = (L, H)

    def show_matrices(self, mats: np.ndarray, lo: float, hi: float) -> None:
        """mats (L, H, T, T); non-finite cells are masked."""
        L, H, T, _ = mats.shape
        self.build(L, H)
        for layer in range(L):
            for h in range(H):
                self.panels[layer][h].setImage(to_indexed(mats[layer, h], lo, hi), levels=(0, 255), autoLevels=False)
                vb = self.boxes[layer][h]
                vb.setRange(QRectF(0, 0, T, T), padding=0.02)
        self.mark_selected(self.selected)

    def mark_selected(self, sel: tuple[int, int] | None) -> None:
        self.selected = sel
        for layer, row in enumerate(self.boxes):
            for h, vb in enumerate(row):
                chosen = sel == (layer, h)
                vb.setBorder(pg.mkPen("#d62728" if chosen else "#bbb", width=3 if chosen else 1))


class TokenAxis(pg.AxisItem):
    """An axis that labels integer positions with tokens (thinned when they would overlap)."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.tokens: list[str] = []
        self.setStyle(tickFont=QFont("monospace", 8))

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
        if not self.tokens:
            return []
        minVal, maxVal = sorted((minVal, maxVal))  # an inverted axis passes them the other way round
        span = max(1.0, maxVal - minVal)
        px_per_tick = size / span
        step = max(1, int(np.ceil(14 / max(px_per_tick, 1e-6))))
        lo, hi = max(0, int(minVal)), min(len(self.tokens) - 1, int(maxVal) + 1)
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
        self.hover_text = ""
        self.image.hoverEvent = self._hover

    def show_matrix(self, mat: np.ndarray, tokens: list[str], lo: float, hi: float, title: str) -> None:
        self.values = mat
        self.left.tokens = self.bottom.tokens = tokens
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
            tok = self.left.tokens
            value = "masked (future token)" if not np.isfinite(v) or j > i else f"{v:.4f}"
            self.hover_text = f"query {i} '{shown_token(tok[i])}' -> key {j} '{shown_token(tok[j])}': {value}"
            self.plot.setTitle(self.hover_text)


class HeadView(QWidget):
    """Two columns of tokens; lines from the selected query to each key, width = attention, colour = head."""

    def __init__(self) -> None:
        super().__init__()
        self.setMinimumSize(300, 200)
        self.data: Any = None  # what it shows: tokens and attention (L, H, T, T)
        self.layer = 0
        self.query = 0
        self.heads_on: list[bool] = []
        self.setMouseTracking(True)

    def set_data(self, data: Any, layer: int) -> None:
        self.data = data
        L, H, T, _ = data.attention.shape
        self.layer = min(layer, L - 1)
        if len(self.heads_on) != H:
            self.heads_on = [True] * H
        self.query = min(self.query, T - 1) if self.query else T - 1
        self.update()

    def _row_y(self, i: int, T: int) -> float:
        top, bottom = 24.0, self.height() - 12.0
        return top + (bottom - top) * (i + 0.5) / max(T, 1)

    def mousePressEvent(self, ev) -> None:  # noqa: N802
        if self.data is None:
            return
        T = self.data.attention.shape[-1]
        y = ev.position().y()
        best = min(range(T), key=lambda i: abs(self._row_y(i, T) - y))
        self.query = best
        self.update()

    def paintEvent(self, ev) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.white)
        if self.data is None:
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        att = self.data.attention[self.layer]  # (H, T, T)
        H, T, _ = att.shape
        font = QFont("monospace", max(6, min(11, int((self.height() - 36) / max(T, 1)) - 2)))
        p.setFont(font)
        x_left, x_right = self.width() * 0.3, self.width() * 0.7
        p.setPen(Qt.GlobalColor.black)
        p.drawText(QPointF(x_left - 70, 14), "query")
        p.drawText(QPointF(x_right + 10, 14), "key")
        for i, tok in enumerate(self.data.tokens):
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


