"""What the Ablation view draws besides the head grid: every head's effect on the loss as an L x H heatmap,
and the per-token loss before and after the heads are switched off.

- EffectMap: loss with head (l, h) alone switched off minus the clean loss, on a blue - white - red scale
  centred at zero (red: the head helps the model on this text); heads switched off are crossed out; a click
  switches a head off as in the grid (shift- or ctrl-click for several).
- LossStrip: -log p(x_{t+1}) of every predicted token, clean (grey) beside with the heads off (coloured by
  the change: red worse, blue better); the exact numbers on hover.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QGraphicsPathItem

from app.colors import DIVERGING, diverging_lut, to_indexed
from app.views.attention.plots import TokenAxis, cross
from app.widgets.text import shown_token


class EffectMap(pg.GraphicsLayoutWidget):
    """The L x H matrix of loss changes, one cell per head (rows = layers, columns = heads)."""

    headClicked = Signal(int, int, object)  # layer, head, keyboard modifiers

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.plot = self.addPlot()
        self.plot.invertY(True)
        self.plot.showAxis("top")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        for name in ("left", "top"):
            ax = self.plot.getAxis(name)
            ax.setStyle(tickFont=QFont("sans", 8))
            ax.setTextPen("#333")
        self.plot.setLabel("left", "layer")
        self.plot.setLabel("top", "head")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(diverging_lut())
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(-1, 1), colorMap=pg.colormap.get(DIVERGING), interactive=False,
                                        width=12, label="loss change (nats/token)")
        self.addItem(self.colorbar)
        self.values: np.ndarray | None = None  # (L, H)
        self.title = ""
        self.off: set[tuple[int, int]] = set()
        self._crosses: list[QGraphicsPathItem] = []
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.plot.scene().sigMouseMoved.connect(self._hovered)

    def show_effect(self, effect: np.ndarray, title: str) -> None:
        """effect (L, H): loss with each head off minus the clean loss."""
        self.values = np.asarray(effect, dtype=np.float64)
        L, H = self.values.shape
        span = float(np.nanmax(np.abs(self.values))) if self.values.size else 0.0
        span = span if span > 1e-9 else 1e-3
        self.image.setImage(to_indexed(self.values, -span, span), levels=(0, 255), autoLevels=False)
        self.image.setRect(QRectF(0, 0, H, L))
        self.colorbar.setLevels((-span, span))
        step_l, step_h = max(1, L // 16), max(1, H // 16)
        self.plot.getAxis("left").setTicks([[(i + 0.5, str(i)) for i in range(0, L, step_l)]])
        self.plot.getAxis("top").setTicks([[(h + 0.5, str(h)) for h in range(0, H, step_h)]])
        self.plot.setRange(QRectF(0, 0, H, L), padding=0.01)
        self.title = title
        self.plot.setTitle(title, size="9pt", color="#222")
        self.mark_off(self.off)

    def clear_effect(self, title: str) -> None:
        self.values = None
        self.image.clear()
        for side in ("left", "top"):  # no head numbers of a model no longer shown
            self.plot.getAxis(side).setTicks([[]])
        self.title = title
        self.plot.setTitle(title, size="9pt", color="#445")
        self.mark_off(set())

    def mark_off(self, heads: set[tuple[int, int]]) -> None:
        self.off = set(heads)
        for item in self._crosses:
            self.plot.removeItem(item)
        self._crosses = []
        if self.values is None:
            return
        for layer, head in self.off:
            item = cross(head, layer, 0.15, "#222", 2)
            item.setZValue(5)
            self.plot.addItem(item)
            self._crosses.append(item)

    def cell_at(self, scene_pos) -> tuple[int, int] | None:  # noqa: ANN001
        if self.values is None:
            return None
        p = self.plot.vb.mapSceneToView(scene_pos)
        L, H = self.values.shape
        if 0 <= p.x() < H and 0 <= p.y() < L:
            return int(p.y()), int(p.x())
        return None

    def _clicked(self, ev) -> None:  # noqa: ANN001
        if ev.button() == Qt.MouseButton.LeftButton:
            hit = self.cell_at(ev.scenePos())
            if hit is not None:
                self.headClicked.emit(*hit, ev.modifiers())

    def _hovered(self, pos) -> None:  # noqa: ANN001
        hit = self.cell_at(pos)
        if hit is None or self.values is None:
            self.plot.setTitle(self.title, size="9pt", color="#222")
            return
        v = self.values[hit]
        self.plot.setTitle(f"head {hit[0]}.{hit[1]} off alone: loss {v:+.4f} nats/token", size="9pt", color="#222")


class LossStrip(pg.PlotWidget):
    """-log p of each predicted token: clean (grey) and with the heads off (red worse, blue better)."""

    def __init__(self) -> None:
        self.axis = TokenAxis("bottom")
        super().__init__(background="w", axisItems={"bottom": self.axis})
        self.setLabel("left", "-log p (nats)")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.setMouseEnabled(x=True, y=False)
        self.setMenuEnabled(False)
        self.hideButtons()
        self.before_item = pg.BarGraphItem(x=[], height=[], width=0.4, brush="#b8bcc4", pen=pg.mkPen(None))
        self.after_item = pg.BarGraphItem(x=[], height=[], width=0.4, brushes=[], pen=pg.mkPen(None))
        self.addItem(self.before_item)
        self.addItem(self.after_item)
        self.tokens: list[str] = []  # the predicted tokens
        self.before = np.zeros(0)
        self.after = np.zeros(0)
        self.title = ""
        self.scene().sigMouseMoved.connect(self._hovered)

    @property
    def delta(self) -> np.ndarray:
        return self.after - self.before

    def show_losses(self, tokens: list[str], before: np.ndarray, after: np.ndarray, title: str) -> None:
        self.tokens, self.before, self.after = list(tokens), np.asarray(before), np.asarray(after)
        n = len(tokens)
        x = np.arange(n, dtype=float)
        delta = self.delta
        span = max(float(np.abs(delta).max()) if n else 0.0, 0.5)
        cmap = pg.colormap.get(DIVERGING)
        brushes = [pg.mkBrush(cmap.map(0.5 + 0.5 * float(np.clip(d / span, -1, 1)), mode="qcolor")) for d in delta]
        for b in brushes:  # a change of zero is white in the map: give it an outline's worth of grey
            c = b.color()
            if c.lightness() > 235:
                b.setColor(QColor("#d8d8d8"))
        self.before_item.setOpts(x=x + 0.5 - 0.2, height=self.before, width=0.4)
        self.after_item.setOpts(x=x + 0.5 + 0.2, height=self.after, width=0.4, brushes=brushes)
        self.axis.tokens = [shown_token(t) for t in tokens]
        self.axis.picture = None
        self.axis.update()
        top = max(float(self.before.max()) if n else 1.0, float(self.after.max()) if n else 1.0, 1.0)
        self.getPlotItem().vb.setRange(QRectF(0, 0, max(min(n, 60), 1), top * 1.08), padding=0)
        self.title = title
        self.setTitle(title, size="9pt", color="#222")

    def clear_losses(self, title: str = "") -> None:
        self.show_losses([], np.zeros(0), np.zeros(0), title)

    def _hovered(self, pos) -> None:  # noqa: ANN001
        if not self.tokens:
            return
        x = self.getPlotItem().vb.mapSceneToView(pos).x()
        k = int(np.floor(x))
        if 0 <= k < len(self.tokens):
            b, a = self.before[k], self.after[k]
            self.setTitle(f"'{shown_token(self.tokens[k])}': {b:.3f} \u2192 {a:.3f} nats ({a - b:+.3f})",
                          size="9pt", color="#222")
        else:
            self.setTitle(self.title, size="9pt", color="#222")
