"""The backgammon board: 24 points, the bar, borne-off trays, the dice, pip counts, and checker-by-checker
entry of the human's turn (click a highlighted source, then a highlighted destination).

Only steps from ``BackgammonState.next_checker_steps`` can be made, so every partial turn can still be
completed legally; the turn is sent (``moveChosen``) as soon as the steps form a whole legal turn.
Right click (or the view's Undo) takes back the last checker step of the unfinished turn.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QLinearGradient, QPainter, QPainterPath, QPen, QPolygonF, QRadialGradient

from app.views.arena import backgammon_geometry as geo
from app.views.arena.board import BoardWidget, px_font
from app.views.arena.palette import HIGHLIGHT, LAST_MOVE, TARGET, draw_badge
from engine.rl.backgammon import BackgammonState, Step
from engine.rl.game import game_info

POINT_COLORS = (QColor("#eadcbc"), QColor("#a63d35"))
FELT = QColor("#245a43")
WOOD_DARK, WOOD_LIGHT = QColor("#4a2e1a"), QColor("#7a4d2b")
PREVIEW = QColor(52, 152, 219, 220)

INFO = game_info("backgammon")


class BackgammonBoard(BoardWidget):
    LOGICAL = (geo.W, geo.H)
    partialChanged = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.partial: list[Step] = []
        self.selected: int | None = None
        self.last_move: tuple[int, tuple[Step, ...]] | None = None  # (player, steps) of the previous turn
        self.preview: tuple[int, tuple[Step, ...]] | None = None  # a turn from the values list, as arrows
        self._legal: list[Step] = []

    # --- state and entry --------------------------------------------------------------------------

    def set_state(self, state, interactive: bool = False, viewer: int = 0) -> None:
        if state is not self.state:
            self.partial, self.selected, self.preview = [], None, None
        super().set_state(state, interactive, viewer)
        self._refresh_legal()

    def set_last_move(self, player: int, steps: tuple[Step, ...] | None) -> None:
        self.last_move = (player, tuple(steps)) if steps else None
        self.update()

    def set_preview(self, player: int, steps: tuple[Step, ...] | None) -> None:
        self.preview = (player, tuple(steps)) if steps else None
        self.update()

    def my_turn(self) -> bool:
        s = self.state
        return (self.interactive and isinstance(s, BackgammonState) and s.dice is not None
                and not s.is_terminal() and s.player == self.viewer)

    def _refresh_legal(self) -> None:
        s = self.state
        self._legal = s.next_checker_steps(self.partial) if self.my_turn() else []  # type: ignore[union-attr]
        self.update()

    def sources(self) -> set[int]:
        return {a for a, _ in self._legal}

    def destinations(self) -> set[int]:
        return {b for a, b in self._legal if a == self.selected} if self.selected is not None else set()

    def click(self, pt: QPointF) -> None:
        self.click_target(geo.target_at(pt))

    def click_target(self, target: int | None) -> None:
        """A click on a viewer point (25 bar, 0 off): select a source, or move the selected checker there."""
        if not self.my_turn() or target is None:
            self.refuse()
            return
        if self.selected is not None and target in self.destinations():
            self.partial.append((self.selected, target))
            self.selected = None
            self._refresh_legal()
            self.partialChanged.emit()
            self._maybe_finish()
        elif target in self.sources():
            self.selected = None if target == self.selected else target
            self.update()
        else:
            self.refuse()

    def right_click(self) -> None:
        if self.selected is not None:
            self.selected = None
            self.update()
        else:
            self.undo_step()

    def undo_step(self) -> bool:
        """Take back the last checker step of the unfinished turn; False if there is none."""
        if not self.partial:
            return False
        self.partial.pop()
        self.selected = None
        self._refresh_legal()
        self.partialChanged.emit()
        return True

    def _maybe_finish(self) -> None:
        s = self.state
        assert isinstance(s, BackgammonState)
        if self._legal:
            return
        action = s.turn_for_steps(self.partial)
        if action is None:  # cannot happen with steps from next_checker_steps; never leave a stuck board
            self.partial = []
            self._refresh_legal()
            self.refuse()
            return
        self.interactive = False
        self._legal = []
        self.moveChosen.emit(action)

    def hover_target(self, pt: QPointF) -> object:
        t = geo.target_at(pt)
        return t if t in self.sources() | self.destinations() else None

    def board_view(self) -> tuple[geo.BoardView, list[int]]:
        """Counts to draw (after the partial steps) and the dice still to play."""
        s = self.state
        assert isinstance(s, BackgammonState)
        v = self.viewer
        if self.partial and s.dice is not None:
            part = s.partial_position(self.partial)
            if part is not None:
                m, o, rest = part
                return geo.BoardView.from_boards(m, o), rest
        dice = [] if s.dice is None else ([s.dice[0]] * 4 if s.dice[0] == s.dice[1] else list(s.dice))
        return geo.BoardView.from_boards(s.board[v], s.board[1 - v]), dice

    # --- painting -----------------------------------------------------------------------------

    def paint_board(self, p: QPainter) -> None:
        s = self.state
        assert isinstance(s, BackgammonState)
        view, rest = self.board_view()
        self._paint_frame(p)
        self._paint_points(p)
        self._paint_checkers(p, view)
        self._paint_entry_marks(p, view)
        for move, color in ((self.last_move, LAST_MOVE), (self.preview, PREVIEW)):
            if move is not None:
                self._paint_arrows(p, view, move[0], move[1], color)
        self._paint_dice(p, s, rest)
        self._paint_labels(p, view)
        if s.is_terminal():
            w = s.winner() or 0
            kind = {1: "", 2: " a gammon", 3: " a backgammon"}[s.points_won(w)]
            pts = s.points_won(w)
            draw_badge(p, QPointF(geo.W / 2 - 40, geo.MID_Y),
                       f"{INFO.players[w]} wins{kind} ({pts} point{'s' if pts > 1 else ''})",
                       px_font(30, True))

    def _paint_frame(self, p: QPainter) -> None:
        g = QLinearGradient(0, 0, geo.W, geo.H)
        g.setColorAt(0, WOOD_LIGHT)
        g.setColorAt(1, WOOD_DARK)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(g)
        p.drawRoundedRect(QRectF(0, 0, geo.W, geo.H), 20, 20)
        felt = QRadialGradient(QPointF(geo.W / 2, geo.MID_Y), geo.W * 0.6)
        felt.setColorAt(0, FELT.lighter(112))
        felt.setColorAt(1, FELT.darker(115))
        p.setBrush(felt)
        for x0 in (geo.LEFT_X0, geo.RIGHT_X0):
            p.drawRect(QRectF(x0, geo.TOP, geo.FIELD_W, geo.BOTTOM - geo.TOP))
        p.setBrush(QColor(0, 0, 0, 60))
        p.drawRect(QRectF(geo.BAR_X0 + 6, geo.TOP, geo.BAR_X1 - geo.BAR_X0 - 12, geo.BOTTOM - geo.TOP))
        for mine in (True, False):
            r = geo.tray_rect(mine)
            p.setBrush(QColor("#2b1a0e"))
            p.drawRoundedRect(r, 8, 8)
        if self.my_turn() and geo.OFF_POINT in self.destinations():
            p.setPen(QPen(TARGET, 5))
            p.setBrush(QColor(46, 204, 113, 60))
            p.drawRoundedRect(geo.tray_rect(True), 8, 8)
            p.setPen(QColor("white"))
            p.setFont(px_font(16, True))
            r = geo.tray_rect(True)
            p.drawText(QRectF(r.left(), r.top() + 6, r.width(), 40), Qt.AlignmentFlag.AlignCenter, "bear\noff")

    def _paint_points(self, p: QPainter) -> None:
        dests, sel = self.destinations(), self.selected
        for k in range(1, 25):
            rect, top = geo.point_rect(k)
            tip = rect.top() + geo.TRIANGLE_H if top else rect.bottom() - geo.TRIANGLE_H
            base = rect.top() if top else rect.bottom()
            tri = QPolygonF([QPointF(rect.left() + 2, base), QPointF(rect.right() - 2, base),
                             QPointF(rect.center().x(), tip)])
            color = POINT_COLORS[k % 2]
            p.setPen(QPen(color.darker(125), 1.2))
            p.setBrush(color)
            p.drawPolygon(tri)
            shade = None
            if k in dests:
                shade = QColor(TARGET.red(), TARGET.green(), TARGET.blue(), 150)
            elif k == sel:
                shade = QColor(HIGHLIGHT.red(), HIGHLIGHT.green(), HIGHLIGHT.blue(), 120)
            elif self.hover == k:
                shade = QColor(255, 255, 255, 60)
            if shade is not None:
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(shade)
                p.drawPolygon(tri)
            p.setPen(QColor("#eadbc3"))
            p.setFont(px_font(15, True))
            label_y = geo.TOP - 30 if top else geo.BOTTOM + 6
            p.drawText(QRectF(rect.left(), label_y, rect.width(), 24), Qt.AlignmentFlag.AlignCenter, str(k))

    def _checker(self, p: QPainter, c: QPointF, player: int, label: str = "") -> None:
        base = QColor(INFO.colors[player])
        g = QRadialGradient(c + QPointF(-9, -10), geo.R * 1.4)
        g.setColorAt(0, base.lighter(125 if player == 0 else 180))
        g.setColorAt(1, base.darker(112))
        p.setPen(QPen(QColor("#1b1411") if player == 0 else QColor("#0d0a09"), 1.6))
        p.setBrush(g)
        p.drawEllipse(c, geo.R, geo.R)
        p.setPen(QPen(base.darker(130) if player == 0 else base.lighter(170), 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(c, geo.R * 0.62, geo.R * 0.62)
        if label:
            p.setPen(QColor("#1b1411") if player == 0 else QColor("#f6efe2"))
            p.setFont(px_font(24, True))
            p.drawText(QRectF(c.x() - geo.R, c.y() - geo.R, 2 * geo.R, 2 * geo.R), Qt.AlignmentFlag.AlignCenter, label)

    def _paint_checkers(self, p: QPainter, view: geo.BoardView) -> None:
        me, them = self.viewer, 1 - self.viewer
        for k in range(1, 25):
            for n, who in ((view.mine[k], me), (view.theirs[k], them)):
                shown = min(n, geo.MAX_STACK)
                for i in range(shown):
                    label = str(n) if n > geo.MAX_STACK and i == shown - 1 else ""
                    self._checker(p, geo.slot_center(k, i), who, label)
        for mine, who, n in ((True, me, view.bar[0]), (False, them, view.bar[1])):
            for i in range(min(n, 4)):
                self._checker(p, geo.bar_center(mine, i), who, str(n) if n > 4 and i == 3 else "")
        for mine, who, n in ((True, me, view.off[0]), (False, them, view.off[1])):
            r = geo.tray_rect(mine)
            base = QColor(INFO.colors[who])
            for i in range(n):
                y = r.bottom() - 6 - (i + 1) * 19 if mine else r.top() + 6 + i * 19
                p.setPen(QPen(base.darker(160) if who == 0 else base.lighter(260), 1.2))
                p.setBrush(base)
                p.drawRoundedRect(QRectF(r.left() + 8, y, r.width() - 16, 16), 4, 4)

    def _paint_entry_marks(self, p: QPainter, view: geo.BoardView) -> None:
        if not self.my_turn():
            return
        for k in self.sources():  # a gold ring around the checker that can move
            c = geo.bar_center(True, view.bar[0] - 1) if k == geo.BAR_POINT else geo.slot_center(k, view.mine[k] - 1)
            selected = k == self.selected
            p.setPen(QPen(HIGHLIGHT, 7 if selected else 4))
            p.setBrush(QColor(245, 183, 0, 90) if selected else Qt.BrushStyle.NoBrush)
            p.drawEllipse(c, geo.R + 3, geo.R + 3)
        for k in self.destinations():
            if k == geo.OFF_POINT:
                continue
            i = view.mine[k] if view.theirs[k] == 0 else 0
            p.setPen(QPen(QColor("white"), 3, Qt.PenStyle.DashLine))
            p.setBrush(QColor(46, 204, 113, 150))
            p.drawEllipse(geo.slot_center(k, i), geo.R - 2, geo.R - 2)

    def _point_anchor(self, view: geo.BoardView, k: int, player: int, leaving: bool) -> QPointF:
        mine = player == self.viewer
        if k == geo.BAR_POINT:
            return geo.bar_center(mine, 0)
        if k == geo.OFF_POINT:
            return geo.tray_rect(mine).center()
        n = view.mine[k] if mine else view.theirs[k]
        return geo.slot_center(k, max(0, n if leaving else n - 1))

    def _paint_arrows(self, p: QPainter, view: geo.BoardView, player: int, steps: tuple[Step, ...],
                      color: QColor) -> None:
        for src, dst in steps:
            a = self._point_anchor(view, geo.to_viewer(src, player, self.viewer), player, leaving=True)
            b = self._point_anchor(view, geo.to_viewer(dst, player, self.viewer), player, leaving=False)
            self._arrow(p, a, b, color)

    @staticmethod
    def _arrow(p: QPainter, a: QPointF, b: QPointF, color: QColor) -> None:
        d = b - a
        length = math.hypot(d.x(), d.y())
        if length < 1:
            return
        u = QPointF(d.x() / length, d.y() / length)
        normal = QPointF(-u.y(), u.x())
        bend = min(60.0, length * 0.18)  # a gentle curve, so arrows along one row stay apart
        ctrl = (a + b) / 2 + normal * bend
        end = b - u * 10
        path = QPainterPath(a)
        path.quadTo(ctrl, end)
        p.setPen(QPen(color, 7, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)
        t = end - ctrl
        tl = math.hypot(t.x(), t.y()) or 1.0
        t = QPointF(t.x() / tl, t.y() / tl)
        n = QPointF(-t.y(), t.x())
        head = QPolygonF([end + t * 14, end - t * 10 + n * 13, end - t * 10 - n * 13])
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        p.drawPolygon(head)

    def _paint_dice(self, p: QPainter, s: BackgammonState, rest: list[int]) -> None:
        if s.dice is None or s.is_terminal():
            return
        d1, d2 = s.dice
        dice = [d1] * 4 if d1 == d2 else [d1, d2]
        left = list(rest)
        alive = []
        for d in dice:  # which dice are still to play (the rest are drawn faded)
            if d in left:
                left.remove(d)
                alive.append(True)
            else:
                alive.append(False)
        size = 50.0 if len(dice) == 4 else 58.0
        gap = 12.0
        center = geo.dice_center(s.player == self.viewer)
        x = center.x() - (len(dice) * size + (len(dice) - 1) * gap) / 2
        face = QColor(INFO.colors[s.player])
        pip = QColor("#1b1411") if s.player == 0 else QColor("#f6efe2")
        for d, live in zip(dice, alive, strict=True):
            r = QRectF(x, center.y() - size / 2, size, size)
            p.setOpacity(1.0 if live else 0.35)
            p.setPen(QPen(QColor(0, 0, 0, 160), 1.5))
            p.setBrush(QBrush(face))
            p.drawRoundedRect(r, 9, 9)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pip)
            for fx, fy in PIPS[d]:
                p.drawEllipse(QPointF(r.left() + fx * size, r.top() + fy * size), size * 0.09, size * 0.09)
            x += size + gap
        p.setOpacity(1.0)

    def _paint_labels(self, p: QPainter, view: geo.BoardView) -> None:
        """Between the trays: a small table of pips and borne-off checkers per player (the opponent first)."""
        me = self.viewer
        mid = QRectF(geo.TRAY.left() - 10, geo.TOP + geo.TRAY_H + 3, geo.TRAY.width() + 20,
                     geo.BOTTOM - geo.TOP - 2 * geo.TRAY_H - 6)
        pips_col = QRectF(mid.left() + 20, 0, 38, 0)
        off_col = QRectF(mid.left() + 60, 0, 30, 0)
        p.setFont(px_font(12))
        p.setPen(QColor("#d9c7a8"))
        for col, text in ((pips_col, "pips"), (off_col, "off")):
            p.drawText(QRectF(col.left(), mid.top(), col.width(), 16), Qt.AlignmentFlag.AlignRight, text)
        for row, (who, pips, off) in enumerate(((1 - me, view.pips[1], view.off[1]), (me, view.pips[0], view.off[0]))):
            y = mid.top() + 18 + row * 25
            p.setPen(QPen(QColor("#1b1411"), 1))
            p.setBrush(QColor(INFO.colors[who]))
            p.drawEllipse(QPointF(mid.left() + 9, y + 11), 7, 7)
            p.setPen(QColor("white"))
            p.setFont(px_font(17, True))
            for col, value in ((pips_col, pips), (off_col, off)):
                p.drawText(QRectF(col.left() - 10, y, col.width() + 10, 22),
                           Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, str(value))


# Pip positions on a die face, as fractions of its size.
PIPS = {1: [(0.5, 0.5)], 2: [(0.27, 0.27), (0.73, 0.73)], 3: [(0.27, 0.27), (0.5, 0.5), (0.73, 0.73)],
        4: [(0.27, 0.27), (0.73, 0.27), (0.27, 0.73), (0.73, 0.73)],
        5: [(0.27, 0.27), (0.73, 0.27), (0.5, 0.5), (0.27, 0.73), (0.73, 0.73)],
        6: [(0.27, 0.25), (0.73, 0.25), (0.27, 0.5), (0.73, 0.5), (0.27, 0.75), (0.73, 0.75)]}
