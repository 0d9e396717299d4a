"""Positions: a tabular tic-tac-toe agent's whole table as the game tree, beside the exact values.

Q-learning (the seed's last lecture) keeps one number per position and move. This page walks the game
tree from the empty board (children made when a row is expanded) and shows, per position, whose move it
is, the agent's best Q, the minimax value, and marks: entries never updated (they still hold their
initial 0, which a greedy player cannot tell from a learned draw) and flawed positions, where a move of
highest Q throws a win or a draw (red: the agent plays it; purple: the update counts break the tie the
right way). Selecting a row draws every legal move's Q, minimax value and update count in its cell. The
table itself is engine.rl.ttt_positions.PositionTable (``txe rl positions``), built in the engine thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QHeaderView, QLabel, QSplitter, QTreeView, QVBoxLayout, QWidget

from app.views.arena.board import px_font
from app.views.arena.controls import SAVED_AGENTS, AgentChooser, agent_label
from app.views.arena.palette import INK, MUTED, value_color
from app.views.arena.tictactoe_board import TicTacToeBoard, cell_rect
from app.widgets.names import named
from engine.rl.registry import make_agent
from engine.rl.ttt_positions import Position, PositionTable, state_of, value_name

if TYPE_CHECKING:
    from app.views.arena.view import ArenaView

THROWS = QColor("#c0392b")  # a position where a move the agent plays throws value
TIED = QColor("#8e44ad")  # flawed, but the update counts break the tie toward the right move
NEVER = QColor("#e67e22")  # a position holding never-updated entries
FLAWED_ROW = QColor(231, 76, 60, 45)
TIED_ROW = QColor(142, 68, 173, 35)
COLUMNS = ("Moves", "To move", "Agent's best Q", "Minimax", "Marks")
Index = QModelIndex | QPersistentModelIndex


def load_table(spec: str) -> PositionTable:
    """The agent named ``spec`` (default or a saved tabular agent) with every position (engine thread)."""
    table = PositionTable(make_agent(spec, "tictactoe", seed=0))  # type: ignore[arg-type]
    table.leading_to_flawed()  # worked out here, not when the filter is ticked
    return table


class _Node:
    __slots__ = ("key", "path", "parent", "row", "kids")

    def __init__(self, key: str, path: tuple[int, ...], parent: _Node | None, row: int) -> None:
        self.key, self.path, self.parent, self.row = key, path, parent, row
        self.kids: list[_Node] | None = None  # None: not made yet


class PositionTreeModel(QAbstractItemModel):
    """The game tree of move sequences from the empty board; a node's children are made when the view
    asks for them (``fetchMore`` on expanding). With ``only`` set, only moves leading to those positions."""

    def __init__(self) -> None:
        super().__init__()
        self.table: PositionTable | None = None
        self.only: set[str] | None = None
        self.root = _Node("", (), None, 0)  # invisible; its one child is the empty board

    def reset(self, table: PositionTable | None, only: set[str] | None) -> None:
        self.beginResetModel()
        self.table, self.only = table, only
        self.root = _Node("", (), None, 0)
        self.root.kids = [_Node(".........", (), self.root, 0)] if table is not None else []
        self.endResetModel()

    def node(self, index: Index) -> _Node:
        return index.internalPointer() if index.isValid() else self.root  # type: ignore[return-value]

    def position(self, index: Index) -> Position | None:
        n = self.node(index)
        return self.table.positions.get(n.key) if self.table is not None and n is not self.root else None

    def _make_kids(self, n: _Node) -> list[_Node]:
        out = []
        for a, key in self.table.kids[n.key] if self.table is not None else ():
            if self.only is None or key in self.only:
                out.append(_Node(key, (*n.path, a), n, len(out)))
        return out

    # --- the tree ---------------------------------------------------------------------------------

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        kids = self.node(parent).kids or []
        if 0 <= row < len(kids) and 0 <= column < len(COLUMNS):
            return self.createIndex(row, column, kids[row])
        return QModelIndex()

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid():
            return QModelIndex()
        p = self.node(index).parent
        if p is None or p is self.root:
            return QModelIndex()
        return self.createIndex(p.row, 0, p)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        if parent.isValid() and parent.column() > 0:
            return 0
        return len(self.node(parent).kids or [])

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return len(COLUMNS)

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:  # noqa: N802, B008
        n = self.node(parent)
        if n is self.root:
            return bool(n.kids)
        if n.kids is not None:
            return bool(n.kids)
        p = self.position(parent)
        if p is None or p.terminal:
            return False
        return self.only is None or any(k in self.only for _a, k in self.table.kids[n.key])

    def canFetchMore(self, parent: Index) -> bool:  # noqa: N802
        return parent.isValid() and self.node(parent).kids is None and self.hasChildren(parent)

    def fetchMore(self, parent: Index) -> None:  # noqa: N802
        n = self.node(parent)
        kids = self._make_kids(n)
        if kids:
            self.beginInsertRows(parent, 0, len(kids) - 1)
            n.kids = kids
            self.endInsertRows()
        else:
            n.kids = []

    # --- what a row shows -----------------------------------------------------------------------

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        p = self.position(index)
        if p is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(p, self.node(index).path, col)
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return THROWS if p.can_throw else TIED if p.flawed else NEVER if p.never_updated else None
        if role == Qt.ItemDataRole.BackgroundRole and p.flawed:
            return QBrush(FLAWED_ROW if p.can_throw else TIED_ROW)
        if role == Qt.ItemDataRole.ForegroundRole and col == 4 and p.flawed:
            return QBrush(THROWS if p.can_throw else TIED)
        if role == Qt.ItemDataRole.ToolTipRole:
            return marks_text(p, long=True) or None
        return None

    @staticmethod
    def _text(p: Position, path: tuple[int, ...], col: int) -> str:
        if col == 0:
            return " ".join(str(a + 1) for a in path) or "start"
        if col == 1:
            return "XO"[p.mover] if not p.terminal else "over"
        if col == 2:
            return "" if p.best_q is None else f"{p.best_q:+.3f}"
        if col == 3:
            return value_name(p.value) if not p.terminal else ("drawn" if p.value == 0 else f"{'OX'[p.depth % 2]} won")
        return marks_text(p)


def marks_text(p: Position, long: bool = False) -> str:
    """A position's marks in words: the value the agent can throw, a tie the update counts break, never-updated
    moves."""
    parts = []
    lost = ", ".join(str(m.action + 1) for m in p.moves if m.top and m.minimax < p.value)
    if p.can_throw:
        parts.append(f"can throw a {value_name(p.value)} (plays {lost})")
    elif p.flawed:
        kept = ", ".join(str(m.action + 1) for m in p.moves if m.greedy)
        parts.append(f"Q ties {lost} with the {value_name(p.value)}; counts pick {kept}")
    if p.never_updated:
        parts.append(f"never updated: {', '.join(str(a + 1) for a in p.never_updated)}")
    if long and not p.terminal:
        parts.append("on the agent's own path" if p.on_path else "reached only after a third party's moves")
    return "; ".join(parts)


class PositionBoard(TicTacToeBoard):
    """The board of the selected position: each legal move's Q (colour and number), minimax value and update
    count in its cell; never-updated cells hatched, greedy moves outlined (red where one throws value)."""

    LOGICAL = (600.0, 730.0)

    def __init__(self) -> None:
        super().__init__()
        self.position: Position | None = None
        self.setMinimumSize(300, 330)

    def show_position(self, p: Position | None) -> None:
        self.position = p
        self.set_state(None if p is None else state_of(p.key))

    def paint_board(self, p: QPainter) -> None:
        super().paint_board(p)
        self._legend(p)

    def _overlay_cell(self, p: QPainter, i: int) -> None:
        pos = self.position
        move = next((m for m in pos.moves if m.action == i), None) if pos is not None else None
        if move is None:
            return
        r = cell_rect(i).adjusted(10, 10, -10, -10)
        p.save()
        p.setBrush(value_color(move.q, 150))
        style = Qt.PenStyle.SolidLine if move.greedy else Qt.PenStyle.DashLine  # dashed: top Q, not played
        color = THROWS if move.minimax < pos.value else INK
        p.setPen(QPen(color, 6 if color == THROWS else 4, style) if move.top else Qt.PenStyle.NoPen)
        p.drawRoundedRect(r, 14, 14)
        if move.never_updated:
            p.setBrush(QBrush(QColor(60, 60, 60, 110), Qt.BrushStyle.BDiagPattern))
            p.setPen(Qt.PenStyle.NoPen)
            p.drawRoundedRect(r, 14, 14)
        p.setPen(INK)
        p.setFont(px_font(38, True))
        p.drawText(r.adjusted(0, 8, 0, -62), Qt.AlignmentFlag.AlignCenter, f"{move.q:+.2f}")
        p.setFont(px_font(19))
        n = "n ?" if move.count is None else f"n = {move.count:,}"
        p.drawText(r.adjusted(0, 76, 0, -30), Qt.AlignmentFlag.AlignCenter, f"minimax {value_name(move.minimax)}")
        p.setPen(THROWS if move.never_updated else INK)
        p.drawText(r.adjusted(0, 108, 0, -4), Qt.AlignmentFlag.AlignCenter,
                   n + (" (never)" if move.never_updated else ""))
        p.restore()

    def _legend(self, p: QPainter) -> None:
        p.save()
        p.setFont(px_font(17))
        items = [("played", QPen(INK, 4), None), ("highest Q, not played", QPen(INK, 4, Qt.PenStyle.DashLine), None),
                 ("loses value", QPen(THROWS, 6), None),
                 ("never updated", Qt.PenStyle.NoPen, Qt.BrushStyle.BDiagPattern)]
        for k, (text, pen, brush) in enumerate(items):
            x, y = 30.0 + 280 * (k % 2), 598.0 + 34 * (k // 2)
            box = QRectF(x, y + 4, 34, 24)
            p.setBrush(value_color(0.0, 150))
            p.setPen(pen)
            p.drawRoundedRect(box, 6, 6)
            if brush is not None:
                p.setBrush(QBrush(QColor(60, 60, 60, 110), brush))
                p.drawRoundedRect(box, 6, 6)
            p.setPen(MUTED)
            p.drawText(QPointF(x + 44, y + 23), text)
        p.drawText(QRectF(30, 668, 550, 50), Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap,
                   "Big: the agent's Q (red -1 loss, 0 draw, green +1 win); minimax: the move's exact value; "
                   "n: updates of Q.")
        p.restore()


class PositionsPanel(QWidget):
    def __init__(self, view: ArenaView) -> None:
        super().__init__()
        self.view = view
        self.agent = AgentChooser("arena.positions-agent", "Tabular tic-tac-toe agent whose table is shown")
        self.agent.combo.setToolTip("A tabular tic-tac-toe agent: default (the shipped one) or a saved "
                                    "Q-learning / SARSA agent.json")
        self.only_flawed = named(QCheckBox("Only flawed positions"), "arena.positions-flawed",
                                 "Show only the moves leading to positions where a greedy move throws value")
        self.summary = named(QLabel("reading the table..."), "arena.positions-summary", "Summary of the table")
        self.summary.setWordWrap(True)
        self.model = PositionTreeModel()
        self.tree = named(QTreeView(), "arena.positions-tree", "The game tree of positions")
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(False)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self.board = named(PositionBoard(), "arena.positions-board", "The selected position with each move's values")
        self.details = named(QLabel(), "arena.positions-details", "The selected position in words")
        self.details.setWordWrap(True)
        self.details.setMinimumHeight(3 * self.details.fontMetrics().lineSpacing())
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Agent"))
        bar.addWidget(self.agent)
        bar.addWidget(self.only_flawed)
        bar.addStretch(1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.board, 1)
        rl.addWidget(self.details)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.tree)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.summary)
        lay.addWidget(split, 1)

        self.table: PositionTable | None = None
        self.loaded = 0  # tables received (tests wait on it)
        self.spec = ""
        self.agent.set_game("tictactoe")
        self._tabular_only()
        self.agent.changed.connect(lambda _s: self.load())
        self.only_flawed.toggled.connect(lambda _on: self._fill())
        self.tree.selectionModel().currentChanged.connect(lambda cur, _prev: self._select(cur))

    def _tabular_only(self) -> None:
        """Only tabular agents have a table: default and this session's saved tic-tac-toe agents."""
        spec = self.agent.spec()
        self.agent.combo.blockSignals(True)
        self.agent.combo.clear()
        self.agent.combo.addItems(["default"] + [s for s in SAVED_AGENTS["tictactoe"] if s != "default"])
        self.agent.combo.setCurrentText(spec or "default")
        self.agent.combo.blockSignals(False)

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        self._tabular_only()
        if self.table is None or self.spec != self.agent.spec():
            self.load()

    def describe(self) -> None:
        self.view.show_source(f"Tic-tac-toe: every position in {agent_label(self.agent.spec())}'s table",
                              "Q, minimax value and update count of every move")

    def load(self) -> None:
        spec = self.agent.spec()
        self.spec = spec
        self.summary.setText(f"reading {agent_label(spec)}'s table...")
        self.view.run(lambda: load_table(spec), lambda table: self._loaded(spec, table), key="arena:positions",
                      what=f"reading {agent_label(spec)}'s table", on_error=self._failed)
        if self.isVisible():
            self.describe()

    def _failed(self, text: str) -> None:
        self.view.show_error(text)
        self.summary.setText(f"no table: {text}")
        self.table = None
        self.model.reset(None, None)
        self.board.show_position(None)
        self.details.setText("")

    def _loaded(self, spec: str, table: PositionTable) -> None:
        if spec != self.agent.spec():
            return  # a newer choice is on its way
        self.table = table
        self.loaded += 1
        s = table.summary()
        never = (f"{s['updated_entries']:,} updated, {s['never_updated_entries']:,} never updated"
                 if s["counts_known"] else "update counts unknown (saved without them)")
        self.summary.setText(
            f"{s['positions']:,} positions ({s['non_terminal']:,} with a move to make) · {s['entries']:,} "
            f"(position, move) entries: {never} · <b>{s['flawed']} flawed positions</b>, where the highest Q "
            f"includes a move that throws a win or a draw ({s['flawed_on_path']} on the agent's own path); "
            f"the agent plays such a move in <b>{s['can_throw']}</b>")
        self._fill()
        self.view.painted_once()

    def _fill(self) -> None:
        t = self.table
        only = None
        if t is not None and self.only_flawed.isChecked():
            only = t.leading_to_flawed()
        self.model.reset(t, only)
        if t is None:
            return
        first = self.model.index(0, 0)
        if only is not None:
            self._expand_all(first)  # the filtered tree is small: open it down to the flawed positions
        else:
            self.tree.expand(first)
        target = self._first_flawed(first) if only is not None else first
        self.tree.setCurrentIndex(target if target.isValid() else first)

    def _expand_all(self, index: QModelIndex) -> None:
        if self.model.canFetchMore(index):
            self.model.fetchMore(index)
        self.tree.expand(index)
        for r in range(self.model.rowCount(index)):
            self._expand_all(self.model.index(r, 0, index))

    def _first_flawed(self, index: QModelIndex) -> QModelIndex:
        p = self.model.position(index)
        if p is not None and p.flawed:
            return index
        for r in range(self.model.rowCount(index)):
            hit = self._first_flawed(self.model.index(r, 0, index))
            if hit.isValid():
                return hit
        return QModelIndex()

    def _select(self, index: QModelIndex) -> None:
        p = self.model.position(index)
        self.board.show_position(p)
        if p is None:
            self.details.setText("")
            return
        path = " ".join(str(a + 1) for a in self.model.node(index).path) or "the start"
        head = "game over" if p.terminal else f"{'XO'[p.mover]} to move, {value_name(p.value)} with perfect play"
        marks = marks_text(p, long=True)
        self.details.setText(f"<b>{head}</b> · after {path}" + (f" · {marks}" if marks else ""))
