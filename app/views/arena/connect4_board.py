"""The Connect Four board: 7 columns x 6 rows, discs that fall into place behind the board's face,
a highlighted column under the mouse, and each column's value in a strip above it."""

from __future__ import annotations

from PySide6.QtCore import QEasingCurve, QPointF, QRectF, Qt, QVariantAnimation
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QRadialGradient

from app.views.arena.board import BoardWidget, px_font
from app.views.arena.palette import INK, MUTED
from engine.rl.connect4 import COLS, ROWS, ConnectFourState
from engine.rl.game import game_info

CELL, PAD = 96.0, 14.0
BOARD = QRectF(20, 166, COLS * CELL + 2 * PAD, ROWS * CELL + 2 * PAD)
HOVER_Y = 122.0
RADIUS = 39.0
COLORS = [QColor(c) for c in game_info("connect4").colors]


def column_x(c: int) -> float:
    return BOARD.left() + PAD + c * CELL + CELL / 2


def row_y(r: int) -> float:
    """Centre of row ``r`` (0 = bottom)."""
    return BOARD.top() + PAD + (ROWS - 1 - r) * CELL + CELL / 2


def winning_cells(state: ConnectFourState) -> set[tuple[int, int]]:
    """The (row, col) cells of every line of four, for highlighting the win."""
    out: set[tuple[int, int]] = set()
    for r in range(ROWS):
        for c in range(COLS):
            who = state.cell(r, c)
            if not who:
                continue
            for dr, dc in ((0, 1), (1, 0), (1, 1), (-1, 1)):
                cells = [(r + k * dr, c + k * dc) for k in range(4)]
                if all(0 <= rr < ROWS and 0 <= cc < COLS and state.cell(rr, cc) == who for rr, cc in cells):
                    out.update(cells)
    return out


class ConnectFourBoard(BoardWidget):
    LOGICAL = (740.0, 802.0)

    def __init__(self) -> None:
        super().__init__()
        self._falling: tuple[int, int, int] | None = None  # (col, row, player) of the disc in the air
        self._fall_t = 1.0
        self._anim = QVariantAnimation(self)
        self._anim.setDuration(380)
        self._anim.setStartValue(0.0)
        self._anim.setEndValue(1.0)
        self._anim.setEasingCurve(QEasingCurve.Type.OutBounce)
        self._anim.valueChanged.connect(self._fall_step)
        self._anim.finished.connect(self._fall_done)

    def set_state(self, state, interactive: bool = False, viewer: int = 0) -> None:
        old = self.state
        super().set_state(state, interactive, viewer)
        if (isinstance(state, ConnectFourState) and isinstance(old, ConnectFourState)
                and len(state.history) == len(old.history) + 1 and state.history[:-1] == old.history):
            col = state.history[-1]
            row = state.heights[col] - 1
            self._falling = (col, row, state.cell(row, col) - 1)
            self._anim.stop()
            self._anim.start()
        else:
            self._anim.stop()
            self._falling = None

    def _fall_step(self, t: float) -> None:
        self._fall_t = float(t)
        self.update()

    def _fall_done(self) -> None:
        self._falling = None
        self.update()

    def column_center(self, c: int) -> QPointF:
        return QPointF(column_x(c), BOARD.center().y())

    def target_at(self, pt: QPointF) -> int | None:
        c = int((pt.x() - BOARD.left() - PAD) // CELL)
        inside = BOARD.left() + PAD <= pt.x() < BOARD.right() - PAD and 0 <= pt.y() <= BOARD.bottom()
        return c if inside and 0 <= c < COLS else None

    # --- painting -----------------------------------------------------------------------------

    def paint_board(self, p: QPainter) -> None:
        s = self.state
        assert isinstance(s, ConnectFourState)
        self._paint_values(p)
        if self.hover is not None:
            self._disc(p, QPointF(column_x(int(self.hover)), HOVER_Y), s.player, alpha=150)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#f4f6f9"))
        p.drawRect(BOARD.adjusted(PAD / 2, PAD / 2, -PAD / 2, -PAD / 2))  # what shows through empty holes
        win = winning_cells(s)
        falling = self._falling
        for c in range(COLS):
            for r in range(s.heights[c]):
                if falling is not None and (c, r) == falling[:2]:
                    continue
                self._disc(p, QPointF(column_x(c), row_y(r)), s.cell(r, c) - 1)
        if falling is not None:
            c, r, who = falling
            y = HOVER_Y + (row_y(r) - HOVER_Y) * self._fall_t
            self._disc(p, QPointF(column_x(c), y), who)
        self._paint_face(p)
        if self.hover is not None:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(255, 255, 255, 55))
            c = int(self.hover)
            p.drawRoundedRect(QRectF(column_x(c) - CELL / 2 + 3, BOARD.top() + 4, CELL - 6, BOARD.height() - 8), 12, 12)
        marks = set(win)
        if s.history and falling is None and not win:
            c = s.history[-1]
            marks.add((s.heights[c] - 1, c))
        for r, c in marks:  # the last disc, or the winning four
            p.setPen(QPen(QColor("white"), 5 if win else 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(QPointF(column_x(c), row_y(r)), RADIUS * (0.55 if win else 0.3),
                          RADIUS * (0.55 if win else 0.3))

    def _paint_face(self, p: QPainter) -> None:
        face = QPainterPath()
        face.addRoundedRect(BOARD, 22, 22)
        holes = QPainterPath()
        for c in range(COLS):
            for r in range(ROWS):
                holes.addEllipse(QPointF(column_x(c), row_y(r)), RADIUS - 1, RADIUS - 1)
        p.setPen(QPen(QColor("#173d84"), 3))
        p.setBrush(QColor("#2458c6"))
        p.drawPath(face.subtracted(holes))
        p.setPen(QPen(QColor(0, 0, 0, 45), 3))
        p.setBrush(Qt.BrushStyle.NoBrush)
        for c in range(COLS):
            for r in range(ROWS):
                p.drawEllipse(QPointF(column_x(c), row_y(r)), RADIUS - 1, RADIUS - 1)
        p.setPen(MUTED)
        p.setFont(px_font(17, True))
        for c in range(COLS):  # column numbers as txe rl play reads them
            p.drawText(QRectF(column_x(c) - 30, BOARD.bottom() + 4, 60, 24), Qt.AlignmentFlag.AlignCenter, str(c + 1))

    def _disc(self, p: QPainter, center: QPointF, player: int, alpha: int = 255) -> None:
        base = QColor(COLORS[player])
        g = QRadialGradient(center + QPointF(-12, -14), RADIUS * 1.3)
        g.setColorAt(0.0, base.lighter(135))
        g.setColorAt(1.0, base.darker(115))
        p.save()
        p.setOpacity(alpha / 255)
        p.setPen(QPen(base.darker(140), 2))
        p.setBrush(g)
        p.drawEllipse(center, RADIUS + 1, RADIUS + 1)
        p.setPen(QPen(base.darker(118), 3))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(center, RADIUS * 0.68, RADIUS * 0.68)
        p.restore()

    def _paint_values(self, p: QPainter) -> None:
        ov = self.overlay
        if ov is None:
            return
        for c in ov.values:
            r = QRectF(column_x(c) - 44, 6, 88, 72)
            p.setBrush(ov.color(c, 230))
            p.setPen(QPen(INK, 4) if c == ov.best else QPen(QColor(0, 0, 0, 40), 1))
            p.drawRoundedRect(r, 12, 12)
            p.setPen(INK)
            p.setFont(px_font(23, True))
            p.drawText(r.adjusted(0, 4, 0, -30 if ov.visits else 0), Qt.AlignmentFlag.AlignCenter, ov.text(c))
            if ov.visits:
                p.setFont(px_font(16))
                p.drawText(r.adjusted(0, 38, 0, -4), Qt.AlignmentFlag.AlignCenter, f"N={ov.visits.get(c, 0)}")
