"""Every head of a model as one cell of an L x H map on a blue - white - red scale centred at zero: the change
of the loss when the head is switched off (the Ablation view), the difference of a head score between two
models (the Attention view's diff). Heads switched off (or selected) are crossed out; a click on a cell says
which head (with the keyboard modifiers, for shift-click)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QFont, QPainterPath
from PySide6.QtWidgets import QGraphicsPathItem

from app.colors import DIVERGING, diverging_lut, to_indexed


def cross(x: float, y: float, inset: float, color: str, width: int) -> QGraphicsPathItem:
    """An X over the unit square at (x, y), ``inset`` from its corners: a head switched off."""
    path = QPainterPath()
    path.moveTo(x + inset, y + inset)
    path.lineTo(x + 1 - inset, y + 1 - inset)
    path.moveTo(x + 1 - inset, y + inset)
    path.lineTo(x + inset, y + 1 - inset)
    item = QGraphicsPathItem(path)
    item.setPen(pg.mkPen(color, width=width, cosmetic=True))
    return item



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
        self.unit = "loss {:+.4f} nats/token"  # how a hovered cell's value reads
        self.off: set[tuple[int, int]] = set()
        self._crosses: list[QGraphicsPathItem] = []
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.plot.scene().sigMouseMoved.connect(self._hovered)

    def show_effect(self, effect: np.ndarray, title: str, label: str = "loss change (nats/token)",
                    unit: str = "loss {:+.4f} nats/token") -> None:
        """effect (L, H): loss with each head off minus the clean loss (or, for an encoder, how far its sentence
        embedding moves: ``label`` names the colour bar, ``unit`` formats a hovered value)."""
        self.values = np.asarray(effect, dtype=np.float64)
        self.unit = unit
        self.colorbar.getAxis("left").setLabel(label)
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
        self.plot.setTitle(f"head {hit[0]}.{hit[1]} off alone: {self.unit.format(v)}", size="9pt", color="#222")
