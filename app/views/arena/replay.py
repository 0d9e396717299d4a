"""Replay: a finished game move by move, reviewed by an agent (engine.rl.replay.analyse_game).

The last game of the Play page and of the Watch page are offered, or a saved game file. The review runs
in the engine thread in short chunks (one bridge job per ~0.25 s of analysis, so Play, Watch and a
training run keep being served), fills the move list as it goes and can be cancelled; picking another
agent reviews the game again. The board shows the position before the selected move with the agent's
value of every legal move over it (the move played and the agent's best marked), and the curve under it
the win probability over the game with the blunders marked and a cursor at the selected move.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.views.arena.backgammon_board import BackgammonBoard
from app.views.arena.controls import AgentChooser, agent_label
from app.views.arena.game_pane import GamePane
from app.views.arena.palette import INK
from app.views.arena.replay_parts import (
    BLUNDER,
    BLUNDER_BG,
    BLUNDER_MARK,
    OTHER,
    OTHER_BG,
    OTHER_MARK,
    PlayedMark,
    ReplayCurve,
    analyse_chunk,
    is_blunder,
    value_text,
)
from app.widgets.names import named
from engine.errors import UserError
from engine.rl.game import State, game_info, get_game
from engine.rl.replay import DEFAULT_THRESHOLD, GameRecord, MoveReview, RecordedMove, load_record
from engine.tasks import CancelToken

if TYPE_CHECKING:
    from app.views.arena.view import ArenaView


class ReplayPanel(QWidget):
    COLUMNS = ("#", "player", "move", "agent's best", "value lost")

    def __init__(self, view: ArenaView) -> None:
        super().__init__()
        self.view = view
        self.source = named(QComboBox(), "arena.replay-source", "Game to replay")
        self.source.setMinimumContentsLength(22)
        self.open_btn = named(QPushButton("Open game file..."), "arena.replay-open", "Open a saved game")
        self.save_btn = named(QPushButton("Save game..."), "arena.replay-save", "Save the game as a file")
        self.agent = AgentChooser("arena.replay-agent", "Analysing agent")
        self.threshold = named(QDoubleSpinBox(), "arena.replay-threshold", "Blunder threshold (value lost)")
        self.threshold.setRange(0.05, 2.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setValue(DEFAULT_THRESHOLD)
        self.threshold.setToolTip("A move that loses at least this much value (on the agent's [-1, 1] scale) "
                                  "is a blunder")
        self.cancel_btn = named(QPushButton("Cancel"), "arena.replay-cancel", "Stop the analysis")
        self.progress = named(QProgressBar(), "arena.replay-progress", "Moves analysed")
        self.progress.setMaximumWidth(160)
        self.progress.setFormat("%v / %m moves")
        bar = QHBoxLayout()  # what to replay; under it, who analyses it (one row would widen the window)
        bar.addWidget(QLabel("Game"))
        bar.addWidget(self.source)
        bar.addWidget(self.open_btn)
        bar.addWidget(self.save_btn)
        bar.addStretch(1)
        bar2 = QHBoxLayout()
        bar2.addWidget(QLabel("Analysed by"))
        bar2.addWidget(self.agent)
        bar2.addWidget(QLabel("Blunder at"))
        bar2.addWidget(self.threshold)
        bar2.addWidget(self.progress)
        bar2.addWidget(self.cancel_btn)
        bar2.addStretch(1)
        self.summary = named(QLabel(), "arena.replay-summary", "The review in one line")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)

        self.table = named(QTableWidget(0, len(self.COLUMNS)), "arena.replay-list",
                           "The moves of the game with the agent's best move and the value lost")
        self.table.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        for col in range(len(self.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        for col in (2, 3):  # the move and the agent's best share the width (backgammon's moves are long)
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.first_btn = named(QPushButton("|<"), "arena.replay-first", "First move")
        self.prev_btn = named(QPushButton("<"), "arena.replay-prev", "Previous move")
        self.next_btn = named(QPushButton(">"), "arena.replay-next", "Next move")
        self.last_btn = named(QPushButton(">|"), "arena.replay-last", "The final position")
        self.slider = named(QSlider(Qt.Orientation.Horizontal), "arena.replay-slider", "Move of the game")
        nav = QHBoxLayout()
        for b in (self.first_btn, self.prev_btn, self.next_btn, self.last_btn):
            b.setFixedWidth(38)
            nav.addWidget(b)
        nav.addWidget(self.slider, 1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.table, 1)
        ll.addLayout(nav)
        left.setMinimumWidth(300)
        self.pane = GamePane("arena.replay")
        self.marks = ReplayCurve(self.pane)
        self.played_marks = {g: PlayedMark(self.pane.boards[g]) for g in ("tictactoe", "connect4")}
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.pane)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 5)
        split.setChildrenCollapsible(False)
        split.setSizes([430, 900])
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addLayout(bar2)
        lay.addWidget(self.summary)
        lay.addWidget(split, 1)

        self.records: dict[str, GameRecord] = {}  # source key (play, watch, a file's path) -> record
        self.record: GameRecord | None = None
        self.positions: list[State] = []  # the position before each player's move, then the final one
        self.played: list[RecordedMove] = []  # each player's move
        self.reviews: list[MoveReview] = []
        self.step = 0
        self.seq = 0
        self.token: CancelToken | None = None
        self.analysing = False
        self.agent_desc = ""
        self.shown_source = ""
        for key, text in (("play", "Last game on Play"), ("watch", "Last game on Watch")):
            self.source.addItem(f"{text} (none yet)", key)

        self.source.activated.connect(lambda _i: self.load_source())
        self.open_btn.clicked.connect(self._open_dialog)
        self.save_btn.clicked.connect(self._save_dialog)
        self.agent.changed.connect(lambda _s: self.analyse())
        self.threshold.valueChanged.connect(lambda _v: self._refresh_verdicts())
        self.cancel_btn.clicked.connect(self.cancel)
        self.first_btn.clicked.connect(lambda: self.go(0))
        self.prev_btn.clicked.connect(lambda: self.go(self.step - 1))
        self.next_btn.clicked.connect(lambda: self.go(self.step + 1))
        self.last_btn.clicked.connect(lambda: self.go(len(self.positions) - 1))
        self.slider.valueChanged.connect(self.go)
        self.table.itemSelectionChanged.connect(self._row_selected)
        self.agent.set_game("tictactoe")
        self._set_analysing(False)
        self._show_empty()

    # --- games offered --------------------------------------------------------------------------

    def offer(self, key: str, record: GameRecord) -> None:
        """A finished game from the Play or Watch page (the newest replaces the one before)."""
        self.records[key] = record
        i = self.source.findData(key)
        title = {"play": "Last game on Play", "watch": "Last game on Watch"}.get(key, key)
        self.source.setItemText(i, f"{title}: {record.players[0]} v {record.players[1]}")
        if self.shown_source == key and self.view.tabs.currentWidget() is self:
            self.load_source()

    def describe(self) -> None:
        """Called when the page is shown: the header, and the newest game of the chosen source."""
        key = str(self.source.currentData())
        if key in self.records and (self.record is not self.records[key]):
            self.load_source()
        self._header()

    def _header(self) -> None:
        rec = self.record
        if getattr(self.view, "tabs", None) is None or self.view.tabs.currentWidget() is not self:
            return  # the header belongs to the page in view
        if rec is None:
            self.view.show_source("Replay", "finish a game on Play or Watch, or open a saved game")
        else:
            self.view.show_source(f"Replay of {game_info(rec.game).title}: {rec.players[0]} against "
                                  f"{rec.players[1]}", f"analysed by {agent_label(self.agent.spec())}")

    def load_source(self) -> None:
        key = str(self.source.currentData())
        rec = self.records.get(key)
        if rec is None:
            self.view.error("No finished game there yet: play one on Play, watch one on Watch, or open a file.")
            return
        self.shown_source = key
        self.set_record(rec)

    def open_file(self, path: str) -> bool:
        """Load a saved game (its errors go to the header) and review it."""
        try:
            rec = load_record(path)
        except UserError as e:
            self.view.error(str(e))
            return False
        self.records[path] = rec
        if self.source.findData(path) < 0:
            self.source.addItem(f"File: {agent_label(path)}", path)
        self.source.setCurrentIndex(self.source.findData(path))
        self.shown_source = path
        self.set_record(rec)
        return True

    def save_file(self, path: str) -> bool:
        if self.record is None:
            self.view.error("There is no game to save yet.")
            return False
        try:
            self.record.save(path)
        except UserError as e:
            self.view.error(str(e))
            return False
        self.view.show_info(f"Saved the game to {path}")
        return True

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a saved game", "", "Games (*.json);;All files (*)")
        if path:
            self.open_file(path)

    def _save_dialog(self) -> None:
        if self.record is None:
            self.view.error("There is no game to save yet.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save the game", f"{self.record.game}-game.json",
                                              "Games (*.json)")
        if path:
            self.save_file(path)

    # --- the record -----------------------------------------------------------------------------

    def set_record(self, rec: GameRecord) -> None:
        self.record = rec
        pairs = [(s, m) for s, m in rec.states() if m.player >= 0]
        self.positions = [s for s, _ in pairs] + [rec.final_state()]
        self.played = [m for _, m in pairs]
        if self.agent.game != rec.game:
            self.agent.set_game(rec.game)
        self.pane.set_game(rec.game)
        self.pane.curve.set_subject(f"{rec.players[0]} ({game_info(rec.game).players[0]})")
        self.pane.curve.setTitle(f"P({agent_label(rec.players[0], 24)} wins) after each move; \u2716 blunder",
                                 color="#1d2733", size="9pt")
        self.save_btn.setEnabled(True)
        self._fill_table()
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(self.positions) - 1)
        self.slider.blockSignals(False)
        self.go(0, force=True)
        self.describe()
        self.analyse()

    def _fill_table(self) -> None:
        rec = self.record
        assert rec is not None
        moves = list(zip(self.positions, self.played, strict=False))
        names = game_info(rec.game).players
        self.table.blockSignals(True)
        self.table.setRowCount(len(moves))
        for row, (s, m) in enumerate(moves):
            dice = getattr(s, "dice", None)
            cells = [str(row + 1), names[m.player],
                     (f"{dice[0]}-{dice[1]}: " if dice else "") + m.text, "\u2026", ""]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col in (0, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
            self.table.item(row, 1).setToolTip(rec.players[m.player])
        self.table.blockSignals(False)

    # --- analysis -------------------------------------------------------------------------------

    def analyse(self) -> None:
        """Review the game with the chosen agent (a review under way is dropped)."""
        rec = self.record
        if rec is None:
            return
        self.cancel(quiet=True)
        self.seq += 1
        self.reviews = []
        self.agent_desc = ""
        self.token = CancelToken()
        self._fill_table()
        self.marks.show([], self.threshold.value())
        self.progress.setVisible(True)
        self.progress.setRange(0, max(1, rec.player_moves()))
        self.progress.setValue(0)
        self._set_analysing(True)
        self.summary.setText(f"Analysing {rec.player_moves()} moves with {agent_label(self.agent.spec())}\u2026")
        self._submit({}, rec, self.agent.spec(), self.threshold.value(), self.token)
        self._header()
        self.go(self.step, force=True)

    def _submit(self, holder: dict[str, Any], rec: GameRecord, spec: str, threshold: float,
                token: CancelToken) -> None:
        pool, seq = self.view.pool, self.seq
        self.view.submit("arena:replay", lambda: analyse_chunk(holder, pool, rec.game, spec, rec, threshold, token),
                         tag=(seq, holder, rec, spec, threshold, token), what="analysing the game")

    def on_result(self, tag: Any, res: dict[str, Any]) -> None:
        seq, holder, rec, spec, threshold, token = tag
        if seq != self.seq:
            return  # a review that a newer one replaced
        if not res["ok"]:
            self._set_analysing(False)
            if res.get("cancelled"):
                self.summary.setText(self._summary_text(stopped=True))
            else:
                self.view.error(res["error"])
                self.summary.setText(f"The analysis failed: {res['error']}")
            self.view.mark_painted()
            return
        self.agent_desc = res["agent"]
        self.reviews.extend(res["reviews"])
        self.progress.setValue(len(self.reviews))
        for r in res["reviews"]:
            self._fill_row(r)
        self.marks.show(self.reviews, self.threshold.value())
        if res["done"]:
            self._set_analysing(False)
            self.summary.setText(self._summary_text())
        else:
            self.summary.setText(self._summary_text(running=True))
            self._submit(holder, rec, spec, threshold, token)
        if self.step < len(self.positions) - 1 and self.step < len(self.reviews) and \
                self.pane.board.overlay is None:
            self.go(self.step, force=True)  # the selected move has its values now
        self.view.mark_painted()

    def cancel(self, quiet: bool = False) -> None:
        if self.token is not None:
            self.token.cancel()
        if self.analysing and not quiet:
            self.seq += 1
            self._set_analysing(False)
            self.summary.setText(self._summary_text(stopped=True))

    def _set_analysing(self, on: bool) -> None:
        self.analysing = on
        self.cancel_btn.setEnabled(on)

    def _fill_row(self, r: MoveReview) -> None:
        row = r.ply - 1
        if not 0 <= row < self.table.rowCount():
            return
        thr = self.threshold.value()
        blunder = is_blunder(r, thr)
        best = "=" if not r.disagreed else r.best_text
        lost = "-" if r.value_lost is None else f"{r.value_lost:.2f}"
        if blunder:
            lost = f"{BLUNDER_MARK} {lost}"
        elif r.disagreed:
            lost = f"{OTHER_MARK} {lost}"
        for col, text in ((3, best), (4, lost)):
            self.table.item(row, col).setText(text)
        fg, bg = (BLUNDER, BLUNDER_BG) if blunder else (OTHER, OTHER_BG) if r.disagreed else (None, None)
        for col in range(len(self.COLUMNS)):
            item = self.table.item(row, col)
            item.setBackground(bg if bg is not None else QColor(0, 0, 0, 0))
            item.setForeground(fg if fg is not None else self.table.palette().text().color())
            f = QFont(item.font())
            f.setBold(blunder)
            item.setFont(f)
        who = self.record.players[r.player] if self.record else ""
        tip = (f"{who} played {r.text} ({value_text(r.played_value, r.bounded)}); the agent's best {r.best_text} "
               f"({value_text(r.best_value, r.bounded)})")
        for col in range(len(self.COLUMNS)):
            self.table.item(row, col).setToolTip(tip)

    def _refresh_verdicts(self) -> None:
        for r in self.reviews:
            self._fill_row(r)
        self.marks.show(self.reviews, self.threshold.value())
        if self.record is not None:
            self.summary.setText(self._summary_text(running=self.analysing))
        self.go(self.step, force=True)

    def _summary_text(self, running: bool = False, stopped: bool = False) -> str:
        rec = self.record
        if rec is None:
            return ""
        thr = self.threshold.value()
        parts = []
        for p in (0, 1):
            mine = [r for r in self.reviews if r.player == p]
            b = sum(is_blunder(r, thr) for r in mine)
            d = sum(r.disagreed and not is_blunder(r, thr) for r in mine)  # a blunder is counted once, as one
            parts.append(f"{rec.players[p]}: <span style='color:{BLUNDER.name()}'>{b} blunder{'s' * (b != 1)}"
                         f"</span>, <span style='color:{OTHER.name()}'>{d} other choice{'s' * (d != 1)}</span>")
        n, total = len(self.reviews), rec.player_moves()
        state = (f" (analysing, {n} of {total} moves)" if running else
                 f" (stopped after {n} of {total} moves)" if stopped else "")
        who = self.agent_desc or agent_label(self.agent.spec())
        unbounded = any(not r.bounded for r in self.reviews[:1])
        note = " Its values have no fixed scale, so only other choices are marked." if unbounded else ""
        result = rec.result_text()
        return (f"<b>{result[:1].upper() + result[1:]}</b> in {total} moves. Reviewed by {who}{state}: "
                + "; ".join(parts) + "." + note)

    # --- stepping through the game ----------------------------------------------------------------

    def go(self, step: int, force: bool = False) -> None:
        if not self.positions:
            return
        step = max(0, min(step, len(self.positions) - 1))
        if step == self.step and not force:
            return
        self.step = step
        self.slider.blockSignals(True)
        self.slider.setValue(step)
        self.slider.blockSignals(False)
        last = len(self.positions) - 1
        for b, on in ((self.first_btn, step > 0), (self.prev_btn, step > 0), (self.next_btn, step < last),
                      (self.last_btn, step < last)):
            b.setEnabled(on)
        self.table.blockSignals(True)
        if step < last:
            self.table.selectRow(step)
            self.table.scrollToItem(self.table.item(step, 0))
        else:
            self.table.clearSelection()
        self.table.blockSignals(False)
        self.marks.set_cursor(step)
        self._show_step()

    def _row_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.go(rows[0].row())

    def _show_step(self) -> None:
        rec = self.record
        assert rec is not None
        state = self.positions[self.step]
        board = self.pane.board
        board.set_state(state, False, viewer=0)
        bg = self.pane.boards["backgammon"]
        assert isinstance(bg, BackgammonBoard)
        bg.set_last_move(0, None)
        for mark in self.played_marks.values():
            mark.set_move(None, INK)
        names = game_info(rec.game).players
        if self.step == len(self.positions) - 1:
            self.pane.clear_values("the game is over")
            self.pane.set_status(f"Final position: {rec.result_text()}", f"{rec.player_moves()} moves.")
            return
        r = self.reviews[self.step] if self.step < len(self.reviews) else None
        who = f"{names[state.current_player()]} ({rec.players[state.current_player()]})"
        if r is None:
            self.pane.clear_values("analysing\u2026" if self.analysing else "not analysed")
            self.pane.set_status(f"Move {self.step + 1}: {who} played {self.played[self.step].text}")
            return
        result = {"values": r.values, "visits": r.visits, "bounded": r.bounded, "best": r.best, "choice": r.action,
                  "agent": self.agent_desc, "value_kind": r.value_kind, "top": r.top}
        self.pane.show_values(result, state, f"{agent_label(self.agent.spec())}'s values here")
        thr = self.threshold.value()
        if rec.game in self.played_marks:
            self.played_marks[rec.game].set_move(r.action, BLUNDER if is_blunder(r, thr) else OTHER if r.disagreed
                                                 else INK)
        dice = f" with {r.dice}" if r.dice else ""
        verdict = (f"<b style='color:{BLUNDER.name()}'>{BLUNDER_MARK} Blunder</b>: " if is_blunder(r, thr) else
                   f"<b style='color:{OTHER.name()}'>{OTHER_MARK} Another choice</b>: " if r.disagreed else
                   "The agent agrees. ")
        played, best = value_text(r.played_value, r.bounded), value_text(r.best_value, r.bounded)
        lost = value_text(r.value_lost, r.bounded, sign=False)
        detail = verdict + (f"it values {r.text} at {played} and prefers {r.best_text} at {best} (value lost {lost})."
                            if r.disagreed else f"{r.text} is worth {played} to it.")
        if r.researched and r.action in r.values:
            detail += (f"<br>Its search tried {r.text} only {r.visits.get(r.action, 0)} time(s) "
                       f"({value_text(r.values[r.action], r.bounded)} on the board), so the position after it was "
                       f"searched on its own: {played}.")
        where = "ringed on the board and " if rec.game in self.played_marks else ""
        detail += f"<br><span style='color:#6b7785'>The move played is {where}marked \u25c0 in the list.</span>"
        if rec.game == "backgammon":
            detail += ("<br><span style='color:#6b7785'>Orange arrows: the move played"
                       + ("; blue: the agent's best" if r.disagreed else "") + ".</span>")
        self.pane.set_status(f"Move {self.step + 1}: {who} played {r.text}{dice}", detail)
        if rec.game == "backgammon" and hasattr(state, "legal_turns"):
            turns = state.legal_turns()  # type: ignore[attr-defined]
            if 0 <= r.action < len(turns):
                bg.set_last_move(state.current_player(), turns[r.action][0])
            if r.disagreed and r.best is not None and 0 <= r.best < len(turns):
                bg.set_preview(state.current_player(), turns[r.best][0])

    def _show_empty(self) -> None:
        self.pane.board.set_state(get_game("tictactoe").new_initial_state(), False)
        self.pane.curve.setTitle("the win probability over the game; \u2716 blunder", color="#1d2733", size="9pt")
        self.progress.setVisible(False)
        self.save_btn.setEnabled(False)
        for b in (self.first_btn, self.prev_btn, self.next_btn, self.last_btn):
            b.setEnabled(False)
        self.pane.set_status("No game yet", "Finish a game on the Play or Watch page (it appears in the Game list), "
                             "or open a saved game file.")
        self.summary.setText("Pick a finished game to see it move by move, with the analysing agent's value of "
                             "every move and its blunders marked.")
