"""The tic-tac-toe board: a 3x3 grid with X and O, hover on legal cells, values drawn in the cells."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from app.views.arena.board import BoardWidget, px_font
from app.views.arena.palette import INK, MUTED
from engine.rl.game import game_info
from engine.rl.tictactoe import LINES, TicTacToeState

ORIGIN, CELL = 30.0, 180.0
COLORS = [QColor(c) for c in game_info("tictactoe").colors]


def cell_rect(i: int) -> QRectF:
    return QRectF(ORIGIN + (i % 3) * CELL, ORIGIN + (i // 3) * CELL, CELL, CELL)


def winning_line(state: TicTacToeState) -> tuple[int, int, int] | None:
    b = state.board
    for line in LINES:
        i, j, k = line
        if b[i] and b[i] == b[j] == b[k]:
            return line
    return None


class TicTacToeBoard(BoardWidget):
    LOGICAL = (600.0, 600.0)

    def cell_center(self, i: int) -> QPointF:
        return cell_rect(i).center()

    def target_at(self, pt: QPointF) -> int | None:
        col, row = int((pt.x() - ORIGIN) // CELL), int((pt.y() - ORIGIN) // CELL)
        if 0 <= col < 3 and 0 <= row < 3 and pt.x() >= ORIGIN and pt.y() >= ORIGIN:
            return row * 3 + col
        return None

    # --- painting -----------------------------------------------------------------------------

    def paint_board(self, p: QPainter) -> None:
        s = self.state
        assert isinstance(s, TicTacToeState)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#fbfaf6"))
        p.drawRoundedRect(QRectF(12, 12, 576, 576), 22, 22)
        mover = s.current_player()
        for i in range(9):
            r = cell_rect(i)
            if self.hover == i:
                p.setBrush(QColor("#dde8f4"))
                p.drawRoundedRect(r.adjusted(10, 10, -10, -10), 14, 14)
                self._mark(p, i, mover, alpha=70)
            self._overlay_cell(p, i)
            p.setFont(px_font(15))
            p.setPen(MUTED)
            p.drawText(r.adjusted(20, 14, -10, -10), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, str(i + 1))
            if s.board[i]:
                self._mark(p, i, s.board[i] - 1)
        p.setPen(QPen(QColor("#34495e"), 7, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        for k in (1, 2):
            x = ORIGIN + k * CELL
            p.drawLine(QPointF(x, ORIGIN + 14), QPointF(x, ORIGIN + 3 * CELL - 14))
            p.drawLine(QPointF(ORIGIN + 14, x), QPointF(ORIGIN + 3 * CELL - 14, x))
        line = winning_line(s)
        if line is not None:
            color = QColor(COLORS[s.board[line[0]] - 1])
            color.setAlpha(150)
            p.setPen(QPen(color, 20, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            a, b = self.cell_center(line[0]), self.cell_center(line[2])
            d = (b - a) * 0.12
            p.drawLine(a - d, b + d)

    def _mark(self, p: QPainter, i: int, player: int, alpha: int = 255) -> None:
        c = QColor(COLORS[player])
        c.setAlpha(alpha)
        r = cell_rect(i).adjusted(48, 48, -48, -48)
        p.save()
        p.setPen(QPen(c, 20, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.setBrush(Qt.BrushStyle.NoBrush)
        if player == 0:
            p.drawLine(r.topLeft(), r.bottomRight())
            p.drawLine(r.topRight(), r.bottomLeft())
        else:
            p.drawEllipse(r.adjusted(-4, -4, 4, 4))
        p.restore()

    def _overlay_cell(self, p: QPainter, i: int) -> None:
        ov, s = self.overlay, self.state
        assert isinstance(s, TicTacToeState)
        if ov is None or i not in ov.values or s.board[i]:
            return
        r = cell_rect(i).adjusted(10, 10, -10, -10)
        p.save()
        p.setBrush(ov.color(i, 150))
        p.setPen(QPen(INK, 4) if i == ov.best else Qt.PenStyle.NoPen)
        p.drawRoundedRect(r, 14, 14)
        text = ov.text(i)
        p.setPen(INK)
        p.setFont(px_font(40, True))
        p.drawText(r.adjusted(0, 0, 0, -30 if ov.visits else 0), Qt.AlignmentFlag.AlignCenter, text)
        if ov.visits:
            p.setFont(px_font(20))
            p.drawText(r.adjusted(0, 70, 0, 0), Qt.AlignmentFlag.AlignCenter, f"N = {ov.visits.get(i, 0)}")
        p.restore()
