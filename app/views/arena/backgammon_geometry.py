"""Where things are on the backgammon board, in logical units (1000 x 760), seen from ``viewer``.

The viewer's home board is bottom right (points 1-6, point 1 at the far right), the outer board
bottom left (7-12), the opponent's outer and home boards top left (13-18) and top right (19-24); the
viewer moves counter-clockwise 24 -> 1 and bears off into the lower tray on the right. Point numbers
are the viewer's own (the engine's numbering for that player): 25 is the bar, 0 is off.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF

from engine.rl.backgammon import BAR, NUM_CHECKERS, Board

W, H = 1000.0, 760.0
TOP, BOTTOM = 44.0, 716.0
MID_Y = (TOP + BOTTOM) / 2
POINT_W = 65.0
LEFT_X0, BAR_X0, BAR_X1 = 44.0, 434.0, 504.0
RIGHT_X0 = BAR_X1
FIELD_W = 6 * POINT_W
TRAY = QRectF(912, TOP, 72, BOTTOM - TOP)
TRAY_H = 300.0
R = 29.0  # checker radius
SLOT = 2 * R + 1
TRIANGLE_H = 290.0
MAX_STACK = 5  # checkers drawn per point; more are shown as a count on the fifth
BAR_POINT, OFF_POINT = 25, 0


def point_rect(k: int) -> tuple[QRectF, bool]:
    """The column of viewer point ``k`` (1..24) and whether it hangs from the top edge."""
    if 1 <= k <= 6:
        x, top = RIGHT_X0 + (6 - k) * POINT_W, False
    elif k <= 12:
        x, top = LEFT_X0 + (12 - k) * POINT_W, False
    elif k <= 18:
        x, top = LEFT_X0 + (k - 13) * POINT_W, True
    else:
        x, top = RIGHT_X0 + (k - 19) * POINT_W, True
    y0 = TOP if top else MID_Y
    return QRectF(x, y0, POINT_W, MID_Y - TOP), top


def slot_center(k: int, i: int) -> QPointF:
    """Centre of the ``i``-th checker (0 = at the edge) on viewer point ``k``."""
    rect, top = point_rect(k)
    i = min(i, MAX_STACK - 1)
    y = TOP + R + 2 + i * SLOT if top else BOTTOM - R - 2 - i * SLOT
    return QPointF(rect.center().x(), y)


def bar_center(mine: bool, i: int) -> QPointF:
    """The viewer's bar checkers sit in the bar's upper half, the opponent's in the lower half."""
    i = min(i, 3)
    x = (BAR_X0 + BAR_X1) / 2
    return QPointF(x, MID_Y - 48 - i * SLOT if mine else MID_Y + 48 + i * SLOT)


def tray_rect(mine: bool) -> QRectF:
    return QRectF(TRAY.left(), BOTTOM - TRAY_H if mine else TOP, TRAY.width(), TRAY_H)


def dice_center(viewer_moves: bool) -> QPointF:
    return QPointF((RIGHT_X0 if viewer_moves else LEFT_X0) + FIELD_W / 2, MID_Y)


def target_at(pt: QPointF) -> int | None:
    """The viewer point (1..24), the bar (25) or off (0, the viewer's tray) under ``pt``."""
    x, y = pt.x(), pt.y()
    if not TOP <= y <= BOTTOM:
        return None
    for x0, top_first, bottom_first in ((LEFT_X0, 13, 12), (RIGHT_X0, 19, 6)):
        if x0 <= x < x0 + FIELD_W:
            col = int((x - x0) // POINT_W)
            return top_first + col if y < MID_Y else bottom_first - col
    if BAR_X0 <= x < BAR_X1:
        return BAR_POINT
    if TRAY.left() - 10 <= x <= TRAY.right() + 10 and y >= MID_Y:
        return OFF_POINT
    return None


def anchor(k: int) -> QPointF:
    """Where a click on viewer point ``k`` (or the bar / off) is aimed, for tests and arrows."""
    if k == BAR_POINT:
        return bar_center(True, 0)
    if k == OFF_POINT:
        return tray_rect(True).center()
    return slot_center(k, 1)


@dataclass
class BoardView:
    """Checker counts as the viewer sees them: per viewer point (mine, theirs), bar and off counts."""

    mine: list[int]  # index k = viewer point k (index 0 unused)
    theirs: list[int]
    bar: tuple[int, int]  # (mine, theirs)
    off: tuple[int, int]
    pips: tuple[int, int]

    @classmethod
    def from_boards(cls, viewer_board: Board, other_board: Board) -> BoardView:
        mine = [0] + [viewer_board[k - 1] for k in range(1, 25)]
        theirs = [0] + [other_board[24 - k] for k in range(1, 25)]
        off = (NUM_CHECKERS - sum(viewer_board), NUM_CHECKERS - sum(other_board))
        pips = (pip_count(viewer_board), pip_count(other_board))
        return cls(mine, theirs, (viewer_board[BAR], other_board[BAR]), off, pips)

    def top_slot(self, k: int) -> int:
        """Slot index of the top checker on viewer point ``k`` (either colour), -1 if empty."""
        return max(self.mine[k], self.theirs[k]) - 1


def pip_count(board: Board) -> int:
    return sum((i + 1) * n for i, n in enumerate(board))


def to_viewer(k: int, player: int, viewer: int) -> int:
    """Player ``player``'s point number ``k`` in the viewer's numbering (bar and off stay as they are)."""
    if player == viewer or k in (BAR_POINT, OFF_POINT):
        return k
    return 25 - k
