"""A board (one per game, swapped in a stack), the agent's thinking beside it and the win-probability
curve under it: what the Play and the Watch pages share."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.views.arena.backgammon_board import BackgammonBoard
from app.views.arena.board import BoardWidget, Overlay
from app.views.arena.connect4_board import ConnectFourBoard
from app.views.arena.curve import WinCurve
from app.views.arena.palette import ValueScaleBar
from app.views.arena.tictactoe_board import TicTacToeBoard
from app.widgets.names import named
from engine.rl.game import State

# GNU Backgammon's five probabilities of a move, when the agent gives them (5-output TD net, gnubg)
PROB_COLUMNS = (("win", "Win", "P(win)"), ("win_gammon", "W-g", "P(win a gammon or backgammon)"),
                ("win_backgammon", "W-bg", "P(win a backgammon)"),
                ("lose_gammon", "L-g", "P(lose a gammon or backgammon)"),
                ("lose_backgammon", "L-bg", "P(lose a backgammon)"))
FIRST_PROB = 3  # table columns: move, value, visits, then the probabilities


class GamePane(QWidget):
    moveChosen = Signal(int)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.boards: dict[str, BoardWidget] = {"tictactoe": TicTacToeBoard(), "connect4": ConnectFourBoard(),
                                               "backgammon": BackgammonBoard()}
        self.stack = QStackedWidget()
        for b in self.boards.values():
            self.stack.addWidget(b)
            b.moveChosen.connect(self.moveChosen)
        self.game = "tictactoe"
        self.curve = WinCurve()

        self.status = QLabel()
        f = QFont(self.status.font())
        f.setPointSizeF(f.pointSizeF() * 1.35)
        f.setBold(True)
        self.status.setFont(f)
        self.status.setWordWrap(True)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.RichText)
        self.detail.setMinimumHeight(4 * self.detail.fontMetrics().lineSpacing())  # room for wrapped lines
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.values_title = QLabel("<b>Values</b>")
        self.values_title.setWordWrap(True)
        self.scale = ValueScaleBar()
        self.table = named(QTableWidget(0, FIRST_PROB + len(PROB_COLUMNS)), f"{name}-moves",
                           "The agent's best moves and their values")
        self.table.setHorizontalHeaderLabels(["move", "value", "visits"] + [c[1] for c in PROB_COLUMNS])
        for c, (_, _, tip) in enumerate(PROB_COLUMNS, FIRST_PROB):
            self.table.horizontalHeaderItem(c).setToolTip(tip + " after this move, in percent")
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, self.table.columnCount()):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._preview_selected)
        self._top_rows: list[dict[str, Any]] = []
        self._top_state: State | None = None

        side = QWidget()
        side.setMinimumWidth(270)
        side.setMaximumWidth(380)
        self.side = side
        sl = QVBoxLayout(side)
        sl.setContentsMargins(6, 0, 0, 0)
        sl.addWidget(self.status)
        sl.addWidget(self.detail)
        sl.addSpacing(8)
        sl.addWidget(self.values_title)
        sl.addWidget(self.scale)
        sl.addWidget(self.table, 1)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.stack)
        left.addWidget(self.curve)
        left.setStretchFactor(0, 4)
        left.setStretchFactor(1, 1)
        left.setChildrenCollapsible(False)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(left, 1)
        lay.addWidget(side)
        self.clear_values()

    @property
    def board(self) -> BoardWidget:
        return self.boards[self.game]

    def set_game(self, game: str) -> None:
        self.game = game
        self.stack.setCurrentWidget(self.boards[game])
        self.clear_values()

    def set_status(self, text: str, detail: str = "") -> None:
        self.status.setText(text)
        self.detail.setText(detail)

    # --- values ---------------------------------------------------------------------------------

    def clear_values(self, note: str = "") -> None:
        self.board.set_overlay(None)
        self.values_title.setText(f"<b>Values</b><br><span style='color:#6b7785'>{note}</span>" if note else
                                  "<b>Values</b>")
        self.table.setRowCount(0)
        self.table.setColumnHidden(2, True)
        self._show_probs(False)
        self._top_rows, self._top_state = [], None
        bg = self.boards["backgammon"]
        assert isinstance(bg, BackgammonBoard)
        bg.set_preview(0, None)

    def show_values(self, result: dict[str, Any], state: State, title: str, hint: bool = False) -> None:
        """Overlay ``result`` (from jobs.think, for the mover of ``state``) on the board and list its best moves."""
        values = result["values"]
        if not values:
            self.clear_values(f"{result['agent']} has no values to show")
            return
        overlay = Overlay(values, result["visits"], result["bounded"], result["best"],
                          None if hint else result.get("choice"), hint)
        self.board.set_overlay(overlay)
        self.scale.set_bounded(result["bounded"])
        n = int(result.get("legal", len(values)))  # a look-ahead may value only some of them
        kind = result["value_kind"] + ("; probabilities in %" if result.get("details") else "")
        self.values_title.setText(f"<b>{title}</b><br><span style='color:#6b7785'>{kind}; "
                                  f"{n} legal move{'s' if n != 1 else ''}, best {min(n, len(result['top']))} "
                                  f"listed</span>")
        self._top_rows, self._top_state = list(result["top"]), state.clone()  # the game goes on; the list stays
        probs = any("probs" in row for row in self._top_rows)
        self.table.blockSignals(True)
        self.table.setRowCount(len(self._top_rows))
        for r, row in enumerate(self._top_rows):
            a = row["action"]
            chosen = a == result.get("choice")
            mark = "  \u25c0" if probs else "  \u25c0 played"  # the wide table has no room for the word
            cells = [row["move"] + (mark if chosen and not hint else ""),
                     overlay.text(a) if a in values else "-", str(row.get("visits", ""))]
            cells += [f"{100 * row['probs'][k]:.1f}" if "probs" in row else "" for k, _, _ in PROB_COLUMNS]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 1 and a in values:
                    item.setBackground(overlay.color(a, 200))
                    item.setForeground(QColor("#111111"))
                if c > 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.table.setColumnHidden(2, not result["visits"])
        self._show_probs(probs)
        self.table.clearSelection()
        self.table.blockSignals(False)
        bg = self.boards["backgammon"]
        assert isinstance(bg, BackgammonBoard)
        bg.set_preview(0, None)

    def _show_probs(self, shown: bool) -> None:
        """The probability columns, and room for them, only when the agent gives probabilities."""
        for c in range(FIRST_PROB, self.table.columnCount()):
            self.table.setColumnHidden(c, not shown)
        self.table.horizontalHeaderItem(1).setText("equity" if shown else "value")
        self.side.setMaximumWidth(560 if shown else 380)
        self.side.setMinimumWidth(470 if shown else 270)

    def _preview_selected(self) -> None:
        """Backgammon: a turn picked in the list is drawn on the board as blue arrows."""
        rows = self.table.selectionModel().selectedRows()
        s = self._top_state
        bg = self.boards["backgammon"]
        assert isinstance(bg, BackgammonBoard)
        if not rows or s is None or self.game != "backgammon" or not hasattr(s, "legal_turns"):
            bg.set_preview(0, None)
            return
        row = self._top_rows[rows[0].row()]
        turns = s.legal_turns()  # type: ignore[attr-defined]
        if 0 <= row["action"] < len(turns):
            bg.set_preview(s.current_player(), turns[row["action"]][0])
