"""Colours of the Arena boards and the value scale shared by every overlay.

Values are shown on one diverging scale from the mover's point of view: -1 (a certain loss) red,
0 (a draw, or even) pale yellow, +1 (a certain win) green. Unbounded scores (pubeval) are min-max
scaled over the legal moves first, so the best move is always the greenest.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

LOSS = QColor("#d73027")
EVEN = QColor("#fee08b")
WIN = QColor("#1a9850")
HIGHLIGHT = QColor("#f5b700")  # legal sources, selected checker
TARGET = QColor("#2ecc71")  # legal destinations
ILLEGAL = QColor("#e74c3c")
LAST_MOVE = QColor(255, 140, 0, 200)
INK = QColor("#1d2733")
MUTED = QColor("#6b7785")

# Each game's own colours and player names are its GameInfo (engine.rl.game): one place per game.


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor(round(a.red() + (b.red() - a.red()) * t), round(a.green() + (b.green() - a.green()) * t),
                  round(a.blue() + (b.blue() - a.blue()) * t))


def value_color(v: float, alpha: int = 255) -> QColor:
    """The scale's colour for a value in [-1, 1] (clipped)."""
    v = max(-1.0, min(1.0, v))
    c = _mix(EVEN, WIN, v) if v >= 0 else _mix(EVEN, LOSS, -v)
    c.setAlpha(alpha)
    return c


def normalised(values: dict[int, float], bounded: bool) -> dict[int, float]:
    """Values mapped into [-1, 1] for colouring: as they are when bounded, else min-max over the moves."""
    if bounded or not values:
        return dict(values)
    lo, hi = min(values.values()), max(values.values())
    span = hi - lo
    return {a: (2 * (v - lo) / span - 1 if span > 1e-12 else 0.0) for a, v in values.items()}


def format_value(v: float, bounded: bool) -> str:
    return f"{v:+.2f}" if bounded else f"{v:.1f}"


def ideal_text_color(background: QColor) -> QColor:
    lum = 0.299 * background.red() + 0.587 * background.green() + 0.114 * background.blue()
    return QColor("#111111") if lum > 140 else QColor("#ffffff")


class ValueScaleBar(QWidget):
    """A small horizontal legend of the value scale: loss ... draw ... win (or worst ... best)."""

    def __init__(self) -> None:
        super().__init__()
        self.bounded = True
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_bounded(self, bounded: bool) -> None:
        self.bounded = bounded
        self.update()

    def paintEvent(self, _ev) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(6, 4, self.width() - 12, 12)
        g = QLinearGradient(r.topLeft(), r.topRight())
        for t in (0.0, 0.25, 0.5, 0.75, 1.0):
            g.setColorAt(t, value_color(2 * t - 1))
        p.setPen(QPen(QColor("#8a939c"), 0.8))
        p.setBrush(g)
        p.drawRoundedRect(r, 4, 4)
        f = QFont(self.font())
        f.setPointSizeF(max(7.0, f.pointSizeF() - 1))
        p.setFont(f)
        p.setPen(MUTED)
        labels = ("-1 loss", "0 draw", "+1 win") if self.bounded else ("worst", "", "best")
        y = r.bottom() + 14
        p.drawText(QPointF(r.left(), y), labels[0])
        w = p.fontMetrics().horizontalAdvance(labels[1])
        p.drawText(QPointF(r.center().x() - w / 2, y), labels[1])
        w = p.fontMetrics().horizontalAdvance(labels[2])
        p.drawText(QPointF(r.right() - w, y), labels[2])
        p.end()


BADGE_FILL = QColor(20, 28, 38, 215)
BADGE_TEXT = QColor("white")


def draw_badge(p: QPainter, center: QPointF, text: str, font: QFont, fill: QColor = BADGE_FILL,
               color: QColor = BADGE_TEXT) -> None:
    """A rounded pill with text, e.g. "thinking..." over a board (in the painter's current coordinates)."""
    p.save()
    p.setFont(font)
    fm = p.fontMetrics()
    w, h = fm.horizontalAdvance(text) + 28, fm.height() + 12
    rect = QRectF(center.x() - w / 2, center.y() - h / 2, w, h)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(fill)
    p.drawRoundedRect(rect, h / 2, h / 2)
    p.setPen(color)
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    p.restore()
