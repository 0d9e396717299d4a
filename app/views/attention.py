"""The Attention view: every layer and head of the model at once, one enlarged, and a head view.

- Model view: an L x H grid of heatmaps alpha^(h)_ij (Eq. 11.13), rows = layers, columns = heads;
  the masked upper triangle is drawn in its own colour. Click a panel to enlarge it on the right with
  the tokens on both axes and the exact weight on hover. Scroll to zoom, drag to pan.
- Head view: tokens in two columns, lines from the selected query token to every key, line weight =
  attention, one colour per head, heads toggled on and off (as BertViz does, natively).
- Weights or scores: the pre-softmax q.k / sqrt(d_k) can be shown instead of the weights.
- During training the view follows the newest probe snapshot; the step slider scrubs back through the
  snapshots of the current run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.colors import head_color, heat_lut, to_indexed

MAX_SNAPSHOTS = 400


@dataclass
class AttentionData:
    """What the view shows: one text's matrices, from a live analysis or a training snapshot."""

    tokens: list[str]
    attention: np.ndarray  # (L, H, T, T) float32
    scores: np.ndarray | None = None  # (L, H, T, T), -inf where masked
    step: int | None = None  # training step for snapshots
    truncated: int = 0


def shown_token(tok: str) -> str:
    return tok.replace("\n", "\u21b5").replace(" ", "\u2423") if tok.strip() == "" or "\n" in tok else tok


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
        self.data: AttentionData | None = None
        self.layer = 0
        self.query = 0
        self.heads_on: list[bool] = []
        self.setMouseTracking(True)

    def set_data(self, data: AttentionData, layer: int) -> None:
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


class AttentionView(QWidget):
    """Text in, attention out: the grid, the enlarged head, the head view, snapshots of a run."""

    analyseRequested = Signal(str, bool)  # text, with scores
    exportRequested = Signal(str)  # "png" | "svg" | "npz"

    def __init__(self) -> None:
        super().__init__()
        self.current: AttentionData | None = None
        self.snapshots: list[AttentionData] = []
        self.selected = (0, 0)
        self.follow_live = True

        self.text = QLineEdit()
        self.text.setPlaceholderText("Type or paste text to see the model's attention")
        self.text.setObjectName("attentionText")
        self.tokens_label = QLabel()
        self.tokens_label.setTextFormat(Qt.TextFormat.PlainText)
        self.tokens_label.setWordWrap(True)
        self.mode_grid = QRadioButton("Model view")
        self.mode_heads = QRadioButton("Head view")
        self.mode_grid.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.mode_grid)
        group.addButton(self.mode_heads)
        self.values_combo = QComboBox()
        self.values_combo.addItems(["weights (softmax)", "scores q\u00b7k/\u221ad_k"])
        self.layer_combo = QComboBox()
        self.head_boxes_row = QHBoxLayout()
        self.head_boxes: list[QCheckBox] = []
        self.step_slider = QSlider(Qt.Orientation.Horizontal)
        self.step_slider.setEnabled(False)
        self.step_label = QLabel("no training snapshots yet")
        self.follow_box = QCheckBox("follow training live")
        self.follow_box.setChecked(True)

        self.grid = AttentionGrid()
        self.detail = AttentionDetail()
        self.head_view = HeadView()
        self.stack = QStackedWidget()
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.grid)
        split.addWidget(self.detail)
        split.setSizes([600, 420])
        self.stack.addWidget(split)
        heads_page = QWidget()
        hl = QVBoxLayout(heads_page)
        hl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("layer"))
        row.addWidget(self.layer_combo)
        row.addLayout(self.head_boxes_row)
        row.addStretch(1)
        hl.addLayout(row)
        hl.addWidget(self.head_view, 1)
        self.stack.addWidget(heads_page)

        top = QHBoxLayout()
        top.addWidget(self.text, 1)
        for fmt in ("png", "svg", "npz"):
            b = QPushButton(f"Export {fmt.upper()}")
            b.clicked.connect(lambda _=False, f=fmt: self.exportRequested.emit(f))
            top.addWidget(b)
        modes = QHBoxLayout()
        modes.addWidget(self.mode_grid)
        modes.addWidget(self.mode_heads)
        modes.addWidget(QLabel("show"))
        modes.addWidget(self.values_combo)
        modes.addStretch(1)
        modes.addWidget(self.follow_box)
        modes.addWidget(self.step_label)
        modes.addWidget(self.step_slider, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.tokens_label)
        lay.addLayout(modes)
        lay.addWidget(self.stack, 1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self.request)
        self.text.textChanged.connect(lambda _: self._debounce.start())
        self.values_combo.currentIndexChanged.connect(self._values_changed)
        self.mode_grid.toggled.connect(lambda on: self.stack.setCurrentIndex(0 if on else 1))
        self.grid.panelClicked.connect(self.select)
        self.layer_combo.currentIndexChanged.connect(self._layer_changed)
        self.step_slider.valueChanged.connect(self._scrub)
        self.follow_box.toggled.connect(self._follow_toggled)

    # --- inputs ----------------------------------------------------------------------------

    @property
    def show_scores(self) -> bool:
        return self.values_combo.currentIndex() == 1

    def request(self) -> None:
        if self.text.text():
            self.follow_live = False
            self.follow_box.setChecked(False)
            self.analyseRequested.emit(self.text.text(), True)

    def set_text(self, text: str) -> None:
        self.text.setText(text)
        self._debounce.stop()
        self.request()

    def select(self, layer: int, head: int) -> None:
        self.selected = (layer, head)
        self.grid.mark_selected(self.selected)
        self._draw_detail()

    def _values_changed(self) -> None:
        self.redraw()

    def _layer_changed(self, i: int) -> None:
        if self.current is not None and i >= 0:
            self.head_view.set_data(self.current, i)

    def _follow_toggled(self, on: bool) -> None:
        self.follow_live = on
        if on and self.snapshots:
            self.step_slider.setValue(len(self.snapshots) - 1)
            self.display(self.snapshots[-1])

    def _scrub(self, index: int) -> None:
        if 0 <= index < len(self.snapshots):
            snap = self.snapshots[index]
            self.step_label.setText(f"step {snap.step}")
            if self.step_slider.isSliderDown() or not self.follow_live:
                self.follow_live = index == len(self.snapshots) - 1
                self.display(snap)

    # --- outputs ---------------------------------------------------------------------------

    def add_snapshot(self, data: AttentionData) -> None:
        """A training snapshot arrived; keep it for scrubbing and show it when following live."""
        if self.snapshots and self.snapshots[-1].attention.shape != data.attention.shape:
            self.snapshots.clear()
        self.snapshots.append(data)
        if len(self.snapshots) > MAX_SNAPSHOTS:  # thin out the middle of long runs, keep first and newest
            self.snapshots = self.snapshots[:1] + self.snapshots[1:-1:2] + self.snapshots[-1:]
        self.step_slider.setEnabled(True)
        self.step_slider.blockSignals(True)
        self.step_slider.setRange(0, len(self.snapshots) - 1)
        if self.follow_live:
            self.step_slider.setValue(len(self.snapshots) - 1)
        self.step_slider.blockSignals(False)
        if self.follow_live:
            self.step_label.setText(f"step {data.step}")
            self.display(data)

    def clear_snapshots(self) -> None:
        self.snapshots.clear()
        self.step_slider.setEnabled(False)
        self.step_label.setText("no training snapshots yet")

    def display(self, data: AttentionData) -> None:
        self.current = data
        L, H, T, _ = data.attention.shape
        shown = " | ".join(shown_token(t) for t in data.tokens)
        note = f"  ({data.truncated} earlier tokens not shown: the context is {T})" if data.truncated else ""
        self.tokens_label.setText(f"{T} tokens: {shown}"[:2000] + note)
        if self.layer_combo.count() != L:
            self.layer_combo.blockSignals(True)
            self.layer_combo.clear()
            self.layer_combo.addItems([f"layer {i}" for i in range(L)])
            self.layer_combo.blockSignals(False)
        if len(self.head_boxes) != H:
            for b in self.head_boxes:
                b.deleteLater()
            self.head_boxes = []
            for h in range(H):
                b = QCheckBox(f"head {h}")
                b.setChecked(True)
                b.setStyleSheet(f"color: {head_color(h).name()}; font-weight: bold")
                b.toggled.connect(lambda on, hh=h: self._toggle_head(hh, on))
                self.head_boxes_row.addWidget(b)
                self.head_boxes.append(b)
        self.selected = (min(self.selected[0], L - 1), min(self.selected[1], H - 1))
        self.redraw()

    def _toggle_head(self, h: int, on: bool) -> None:
        if h < len(self.head_view.heads_on):
            self.head_view.heads_on[h] = on
            self.head_view.update()

    def matrices(self) -> tuple[np.ndarray, float, float]:
        data = self.current
        assert data is not None
        if self.show_scores and data.scores is not None:
            finite = data.scores[np.isfinite(data.scores)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            return data.scores, lo, hi
        att = data.attention.copy()
        T = att.shape[-1]
        att[..., np.triu(np.ones((T, T), dtype=bool), 1)] = np.nan  # the causal mask, drawn as masked
        return att, 0.0, 1.0

    def redraw(self) -> None:
        if self.current is None:
            return
        mats, lo, hi = self.matrices()
        self.grid.show_matrices(mats, lo, hi)
        self.grid.mark_selected(self.selected)
        self._draw_detail(mats, lo, hi)
        self.head_view.set_data(self.current, max(0, self.layer_combo.currentIndex()))

    def _draw_detail(self, mats=None, lo=None, hi=None) -> None:
        if self.current is None:
            return
        if mats is None:
            mats, lo, hi = self.matrices()
        layer, head = self.selected
        what = "scores" if self.show_scores and self.current.scores is not None else "attention"
        step = f", step {self.current.step}" if self.current.step is not None else ""
        self.detail.show_matrix(mats[layer, head], self.current.tokens, lo, hi,
                                f"layer {layer}, head {head} {what}{step}")
