"""Where one token looked, as a picture: one row per head (layer by layer), one column per earlier token,
brightness = the attention weight alpha_ij of that head from the chosen token i to token j (Eq. 11.13)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from app.colors import heat_lut, to_indexed
from app.views.attention.plots import TokenAxis
from app.widgets.text import shown_token


class HeadAxis(pg.AxisItem):
    """The rows of the picture: a label at the first head of each layer, thinned to fit."""

    def __init__(self) -> None:
        super().__init__("left")
        self.heads = 1
        self.layers = 0
        self.setTextPen("#333")
        self.setStyle(textFillLimits=[(0, 1.0)])  # every label we pick is drawn

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph's names)
        if not self.layers:
            return []
        lo, hi = sorted((minVal, maxVal))
        px_per_layer = size / max(hi - lo, 1e-9) * self.heads
        step = max(1, int(np.ceil(16 / max(px_per_layer, 1e-6))))
        return [(self.heads, [layer * self.heads + self.heads / 2 for layer in range(0, self.layers, step)])]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        return [f"layer {int(v // self.heads)}" for v in values]


class FocusPlot(pg.GraphicsLayoutWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.bottom, self.left = TokenAxis("bottom"), HeadAxis()
        self.plot = self.addPlot(axisItems={"bottom": self.bottom, "left": self.left})
        self.plot.invertY(True)
        self.plot.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(heat_lut())
        self.plot.addItem(self.image)
        self.rows: np.ndarray | None = None  # (L, H, T)
        self.tokens: list[str] = []
        self.hover_text = ""
        self.image.hoverEvent = self._hover

    def clear(self) -> None:
        self.rows, self.tokens = None, []
        self.image.clear()
        self.bottom.tokens = []
        self.left.layers = 0

    def show_rows(self, tokens: list[str], rows: np.ndarray) -> None:
        """``rows`` (L, H, T): the chosen token's weights over the T tokens before it (and itself)."""
        L, H, T = rows.shape
        self.rows, self.tokens = rows, tokens[:T]
        flat = rows.reshape(L * H, T)
        self.image.setImage(to_indexed(flat, 0.0, float(max(flat.max(), 1e-6))), levels=(0, 255), autoLevels=False)
        self.image.setRect(QRectF(0, 0, T, L * H))
        self.bottom.tokens = self.tokens
        self.left.layers, self.left.heads = L, H
        for axis in (self.bottom, self.left):
            axis.picture = None
            axis.update()
        self.plot.setRange(QRectF(max(0, T - 80), 0, min(T, 80), L * H), padding=0.01)  # the nearest tokens first

    def _hover(self, ev) -> None:
        if ev.isExit() or self.rows is None:
            return
        L, H, T = self.rows.shape
        r, j = int(ev.pos().y()), int(ev.pos().x())
        if 0 <= r < L * H and 0 <= j < T:
            w = float(self.rows[r // H, r % H, j])
            self.hover_text = f"layer {r // H}, head {r % H} \u2192 token {j} {shown_token(self.tokens[j])!r}: {w:.4f}"
            self.plot.setTitle(self.hover_text, size="9pt")
