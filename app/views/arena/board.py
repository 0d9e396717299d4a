"""What every Arena board shares: a logical coordinate system scaled to the widget, the value overlay,
the "thinking..." badge, refused clicks that flash instead of raising, and the click signal."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QCursor, QFont, QPainter, QPen, QTransform
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.views.arena.palette import ILLEGAL, draw_badge, format_value, normalised, value_color
from engine.rl.game import State


@dataclass
class Overlay:
    """An agent's values for the legal moves of one position (see engine.rl.analysis.Analysis)."""

    values: dict[int, float]
    visits: dict[int, int] = field(default_factory=dict)
    bounded: bool = True
    best: int | None = None
    chosen: int | None = None  # the move the agent then played (None for a hint)
    hint: bool = False

    def scaled(self) -> dict[int, float]:
        return normalised(self.values, self.bounded)

    def searched(self, action: int) -> bool:
        """False for a move a search never tried (its value is no estimate)."""
        return not self.visits or self.visits.get(action, 0) > 0

    def color(self, action: int, alpha: int) -> QColor:
        if not self.searched(action):
            return QColor(205, 211, 218, alpha)
        return value_color(self.scaled()[action], alpha)

    def text(self, action: int) -> str:
        return format_value(self.values[action], self.bounded) if self.searched(action) else "–"


def px_font(px: float, bold: bool = False) -> QFont:
    """A font sized in logical pixels, so text scales with the board."""
    f = QFont()
    f.setPixelSize(max(1, round(px)))
    f.setBold(bold)
    return f


class BoardWidget(QWidget):
    """A board drawn with QPainter in logical units (``LOGICAL``), scaled to fit and centred."""

    moveChosen = Signal(int)  # a legal action the human chose by clicking
    LOGICAL = (600.0, 600.0)
    BACKGROUND = QColor("#e9edf1")

    def __init__(self) -> None:
        super().__init__()
        self.state: State | None = None
        self.viewer = 0  # whose side is drawn at the bottom / whose checkers are "mine"
        self.interactive = False  # the human may click now
        self.overlay: Overlay | None = None
        self.thinking = ""
        self.refused = 0  # clicks that were not legal moves (they flash the board)
        self.hover: object = None
        self._flash_until = 0.0
        self.setMouseTracking(True)
        self.setMinimumSize(300, 260)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # --- state --------------------------------------------------------------------------------

    def set_state(self, state: State | None, interactive: bool = False, viewer: int = 0) -> None:
        self.state, self.interactive, self.viewer = state, interactive, viewer
        # the hover belongs to the position it was computed on: a finished game (or the agent's turn) has none
        under = self.mapFromGlobal(QCursor.pos())
        self.hover = self.hover_target(self.logical(QPointF(under))) if interactive and self.rect().contains(under) \
            else None
        self.update()

    def set_overlay(self, overlay: Overlay | None) -> None:
        self.overlay = overlay
        self.update()

    def set_thinking(self, text: str) -> None:
        self.thinking = text
        self.update()

    def legal(self) -> list[int]:
        s = self.state
        if s is None or not self.interactive or s.is_terminal() or s.is_chance_node():
            return []
        return s.legal_actions()

    # --- geometry -----------------------------------------------------------------------------

    def transform(self) -> QTransform:
        lw, lh = self.LOGICAL
        s = min(self.width() / lw, self.height() / lh)
        t = QTransform()
        t.translate((self.width() - lw * s) / 2, (self.height() - lh * s) / 2)
        t.scale(s, s)
        return t

    def logical(self, pos: QPointF) -> QPointF:
        inv, _ = self.transform().inverted()
        return inv.map(QPointF(pos))

    def widget_point(self, logical: QPointF) -> QPoint:
        """Where a logical point is on screen (tests click there)."""
        return self.transform().map(QPointF(logical)).toPoint()

    # --- painting -----------------------------------------------------------------------------

    def paintEvent(self, _ev) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        p.fillRect(self.rect(), self.BACKGROUND)
        p.setTransform(self.transform())
        if self.state is not None:
            self.paint_board(p)
        lw, lh = self.LOGICAL
        if self.thinking:
            draw_badge(p, QPointF(lw / 2, lh / 2), self.thinking, px_font(26, True))
        if time.monotonic() < self._flash_until:
            p.setPen(QPen(ILLEGAL, 8))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRoundedRect(QRectF(4, 4, lw - 8, lh - 8), 14, 14)
        p.end()

    def paint_board(self, p: QPainter) -> None:
        raise NotImplementedError

    # --- input --------------------------------------------------------------------------------

    def refuse(self) -> None:
        """An illegal click: flash the border, change nothing."""
        self.refused += 1
        self._flash_until = time.monotonic() + 0.3
        self.update()
        QTimer.singleShot(320, self.update)

    def mousePressEvent(self, ev) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            self.click(self.logical(ev.position()))
        elif ev.button() == Qt.MouseButton.RightButton:
            self.right_click()

    def mouseMoveEvent(self, ev) -> None:  # noqa: N802
        target = self.hover_target(self.logical(ev.position())) if self.interactive else None
        if target != self.hover:
            self.hover = target
            self.update()

    def leaveEvent(self, _ev) -> None:  # noqa: N802
        if self.hover is not None:
            self.hover = None
            self.update()

    def target_at(self, pt: QPointF) -> int | None:
        """The action a click at logical point ``pt`` means (a cell, a column), legal or not."""
        return None

    def click(self, pt: QPointF) -> None:
        """A left click at logical point ``pt``: emit the legal move there, or refuse."""
        target = self.target_at(pt)
        if target is not None and target in self.legal():
            self.moveChosen.emit(target)
        else:
            self.refuse()

    def right_click(self) -> None:
        pass

    def hover_target(self, pt: QPointF) -> object:
        target = self.target_at(pt)
        return target if target in self.legal() else None
