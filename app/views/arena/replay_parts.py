"""What the Replay page draws with and runs in the engine: its colours and marks, one chunk of the review
(an engine job), and the blunder marks and cursor it adds to a GamePane's win curve."""

from __future__ import annotations

import time
import traceback
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from app.views.arena.board import BoardWidget
from app.views.arena.game_pane import GamePane
from app.views.arena.palette import INK
from engine.errors import UserError
from engine.rl.replay import GameRecord, MoveReview, analyse_game
from engine.tasks import Cancelled, CancelToken

CHUNK_S = 0.25  # analysis per engine job: long enough to be efficient, short enough to share the engine
BLUNDER = QColor("#c0392b")
BLUNDER_BG = QColor("#f9d6d2")
OTHER = QColor("#b9770e")
OTHER_BG = QColor("#fcebc7")
BLUNDER_MARK = "\u2716"  # heavy x: a blunder
OTHER_MARK = "?"  # the agent would have played another move


def analyse_chunk(holder: dict[str, Any], pool: Any, game: str, spec: str, record: GameRecord, threshold: float,
                  token: CancelToken) -> dict[str, Any]:
    """One engine job: the next reviews of the game (the generator is made on the first call). Runs in the
    engine thread; ``holder`` keeps the generator between calls."""
    try:
        if "gen" not in holder:
            agent = pool.get(game, spec, "replay")
            holder["agent"] = agent.describe()
            holder["gen"] = analyse_game(record, agent, token, threshold=threshold, top=9)
        out: list[MoveReview] = []
        t0 = time.monotonic()
        done = False
        while time.monotonic() - t0 < CHUNK_S:
            try:
                out.append(next(holder["gen"]))
            except StopIteration:
                done = True
                break
        return {"ok": True, "reviews": out, "done": done, "agent": holder["agent"]}
    except Cancelled:
        return {"ok": False, "cancelled": True}
    except UserError as e:
        return {"ok": False, "error": str(e)}
    except Exception as e:  # a bug, not the user's: said in the page instead of leaving it "analysing" forever
        traceback.print_exception(e)
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


class ReplayCurve:
    """Blunder and disagreement marks and a cursor on a GamePane's win curve (the curve itself untouched)."""

    def __init__(self, pane: GamePane) -> None:
        self.curve = pane.curve
        self.cursor = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#34495e", width=1.5))
        self.blunders = pg.ScatterPlotItem(symbol="x", size=14, pen=pg.mkPen(BLUNDER, width=3), brush=BLUNDER)
        self.others = pg.ScatterPlotItem(symbol="o", size=7, pen=pg.mkPen(OTHER, width=2), brush=OTHER)
        for item in (self.cursor, self.others, self.blunders):
            self.curve.addItem(item)

    def show(self, reviews: list[MoveReview], threshold: float) -> None:
        self.curve.reset()
        if reviews:
            self.curve.add(0, reviews[0].wp_before)
        for r in reviews:
            self.curve.add(r.ply, r.wp_after)
        b = [(r.ply, r.wp_after) for r in reviews if is_blunder(r, threshold) and r.wp_after is not None]
        o = [(r.ply, r.wp_after) for r in reviews if r.disagreed and not is_blunder(r, threshold)
             and r.wp_after is not None]
        self.blunders.setData([x for x, _ in b], [y for _, y in b])
        self.others.setData([x for x, _ in o], [y for _, y in o])

    def set_cursor(self, step: int) -> None:
        self.cursor.setValue(step)


def is_blunder(r: MoveReview, threshold: float) -> bool:
    """The review's verdict under the threshold now set (changing it needs no new analysis)."""
    return bool(r.bounded and r.value_lost is not None and r.value_lost >= threshold - 1e-9)


def value_text(v: float | None, bounded: bool, sign: bool = True) -> str:
    """A value as the page writes it: signed on the [-1, 1] scale, plain for an unbounded score."""
    if v is None:
        return "-"
    if not bounded:
        return f"{v:.2f}"
    return f"{v:+.2f}" if sign else f"{v:.2f}"


class PlayedMark(QWidget):
    """A dashed ring round the move played, drawn over a tic-tac-toe or Connect Four board (a transparent
    child of the board, in its logical coordinates), so the board shows the move beside the agent's best."""

    def __init__(self, board: BoardWidget) -> None:
        super().__init__(board)
        self.board = board
        self.action: int | None = None
        self.color = QColor(INK)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        board.installEventFilter(self)
        self.setGeometry(board.rect())

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt's name)
        if obj is self.board and ev.type() == QEvent.Type.Resize:
            self.setGeometry(self.board.rect())
        return False

    def set_move(self, action: int | None, color: QColor) -> None:
        self.action, self.color = action, QColor(color)
        self.raise_()
        self.update()

    def rect_for(self, action: int) -> QRectF | None:
        from app.views.arena.connect4_board import ConnectFourBoard, column_x
        from app.views.arena.tictactoe_board import TicTacToeBoard, cell_rect

        if isinstance(self.board, TicTacToeBoard):
            return cell_rect(action).adjusted(3, 3, -3, -3)
        if isinstance(self.board, ConnectFourBoard):
            return QRectF(column_x(action) - 49, 1, 98, 82)
        return None

    def paintEvent(self, _ev) -> None:  # noqa: N802
        r = self.rect_for(self.action) if self.action is not None else None
        if r is None:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setTransform(self.board.transform())
        p.setPen(QPen(self.color, 5, Qt.PenStyle.DashLine))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(r, 16, 16)
        p.end()
