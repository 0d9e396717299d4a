"""Play: the human against a chosen agent, by clicking on the board.

The game state lives here in the GUI thread (states are plain Python); the agent lives in the engine
thread and is only ever asked through ``jobs.think`` with a copy of the state, so MCTS or alpha-beta
can think for seconds while the board stays responsive. Every request carries a sequence number:
an answer to a position that New game or Undo has since replaced is dropped.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from app.views.arena.backgammon_board import BackgammonBoard
from app.views.arena.controls import AgentChooser, GameCombo, agent_label
from app.views.arena.game_pane import GamePane
from app.widgets.names import named
from engine.rl import play as jobs
from engine.rl.game import State, game_info, get_game

if TYPE_CHECKING:
    from app.views.arena.view import ArenaView


def dice_text(state: State) -> str:
    dice = getattr(state, "dice", None)
    return f"{dice[0]}-{dice[1]}" if dice else ""


class PlayPanel(QWidget):
    REVEAL_MS = 700  # the agent's values stay on the board this long before its move lands

    def __init__(self, view: ArenaView) -> None:
        super().__init__()
        self.view = view
        self.game_box = named(GameCombo(), "arena.game", "Game")
        self.opponent = AgentChooser("arena.opponent", "Opponent")
        self.side = named(QComboBox(), "arena.side", "Your side")
        self.new_btn = named(QPushButton("New game"), "arena.new-game", "New game")
        self.undo_btn = named(QPushButton("Undo"), "arena.undo", "Undo your last move")
        self.undo_btn.setToolTip("Take back your last move and the agent's reply (backgammon: the last checker "
                                 "step of the turn you are entering)")
        self.hint = named(QCheckBox("Hint"), "arena.hint", "Show the agent's values for your moves")
        self.hint.setToolTip("Show the agent's values for your legal moves too")
        self.score = named(QLabel(), "arena.score", "Your score against the opponent")
        self.score.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the window
        self.score.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar = QHBoxLayout()
        for label, w in (("Game", self.game_box), ("Opponent", self.opponent), ("You play", self.side)):
            bar.addWidget(QLabel(label))
            bar.addWidget(w)
        for w in (self.new_btn, self.undo_btn, self.hint):
            bar.addWidget(w)
        bar.addStretch(1)
        self.pane = GamePane("arena.play")
        score_row = QHBoxLayout()  # its own row: a long agent name never pushes the controls off the window
        score_row.addWidget(self.score, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addLayout(score_row)
        lay.addWidget(self.pane, 1)

        self.rng = random.Random()
        self.state: State = get_game("tictactoe").new_initial_state()
        self.start_state: State = self.state.clone()
        self.human = 0
        self.moves = 0
        self.seq = 0
        self.thinking = False
        self.snapshots: list[tuple[State, int]] = []  # (position before the human's move, moves played)
        self.tally = [0, 0, 0]  # human wins, draws, agent wins
        self.counted = False
        self.agent_name = ""
        self.reveal_ms = self.REVEAL_MS
        self.agent_desc = ""
        self._counted_slot = 0

        self.game_box.currentIndexChanged.connect(lambda _i: self._game_changed())
        self.side.currentIndexChanged.connect(lambda _i: self.new_game())
        self.opponent.changed.connect(lambda _s: self.load_opponent(new_game=True))
        self.new_btn.clicked.connect(self.new_game)
        self.undo_btn.clicked.connect(self.undo)
        self.hint.toggled.connect(lambda _on: self._hint_toggled())
        self.pane.moveChosen.connect(self.human_move)
        bg = self.pane.boards["backgammon"]
        assert isinstance(bg, BackgammonBoard)
        bg.partialChanged.connect(self._partial_changed)
        self._fill_sides("tictactoe")
        self.opponent.set_game("tictactoe")

    # --- set-up ---------------------------------------------------------------------------------

    @property
    def game(self) -> str:
        return self.game_box.game()

    @property
    def agent_side(self) -> int:
        return 1 - self.human

    def _fill_sides(self, game: str) -> None:
        names = game_info(game).players
        self.side.blockSignals(True)
        i = max(0, self.side.currentIndex())
        self.side.clear()
        if game == "backgammon":  # the opening roll decides who starts
            self.side.addItems([f"{names[0]}", f"{names[1]}"])
        else:
            self.side.addItems([f"{names[0]} (first)", f"{names[1]} (second)"])
        self.side.setCurrentIndex(i)
        self.side.blockSignals(False)

    def _game_changed(self) -> None:
        self._fill_sides(self.game)
        self.opponent.set_game(self.game)
        self.tally = [0, 0, 0]
        self.load_opponent(new_game=True)

    def load_opponent(self, new_game: bool = False) -> None:
        """Make the chosen agent in the engine thread (errors such as a damaged file show at once)."""
        pool, game, spec = self.view.pool, self.game, self.opponent.spec()
        self.agent_name = spec
        self.pane.set_status(f"Loading {spec}\u2026")
        self.agent_desc = ""
        self.view.submit("arena:load", lambda: jobs.load(pool, game, spec), tag=(game, spec),
                         what=f"loading {agent_label(spec)}")
        if new_game:
            self.new_game()

    def new_game(self) -> None:
        self.seq += 1
        self.human = self.side.currentIndex()
        self.state = get_game(self.game).new_initial_state()
        self.start_state = self.state.clone()  # where the game began, for its record (Replay)
        self.moves, self.snapshots, self.counted, self.thinking = 0, [], False, False
        self.pane.set_game(self.game)
        self.pane.curve.set_subject(f"{self.opponent.spec()} ({game_info(self.game).players[self.agent_side]})")
        self.pane.curve.reset()
        self._last_move(None)
        self.describe()
        self.advance()

    # --- the game loop --------------------------------------------------------------------------

    def advance(self) -> None:
        """Roll dice when they are due, then hand the turn to the human or ask the agent."""
        s = self.state
        while s.is_chance_node():
            s.apply_random_chance(self.rng)
        self._update_score()
        if s.is_terminal():
            self._finish()
            return
        if s.current_player() == self.human:
            if self.game == "backgammon" and not s.legal_turns()[0][0]:  # type: ignore[attr-defined]
                self._show(interactive=False)
                self.pane.set_status(f"No legal move with {dice_text(s)}: you pass")
                seq = self.seq
                QTimer.singleShot(1000, lambda: self._pass(seq))
                return
            self._show(interactive=True)
            self.pane.set_status(f"Your move{': ' + dice_text(s) if dice_text(s) else ''}", self._how_to())
            if self.hint.isChecked():
                self.request_hint()
            return
        self._show(interactive=False)
        self.request_move()

    def _how_to(self) -> str:
        you = game_info(self.game).players[self.human]
        if self.game == "backgammon":
            text = (f"You play {you} (home board bottom right). Click a checker with a gold ring, then a green "
                    "point or the bear-off tray; right-click or Undo takes a step back.")
        else:
            what = "an empty cell" if self.game == "tictactoe" else "a column"
            text = f"You play {you}: click {what}."
        if self.agent_desc:
            text += f"<br><span style='color:#6b7785'>Opponent: {self.agent_desc}</span>"
        return text

    def _show(self, interactive: bool) -> None:
        self.pane.board.set_state(self.state, interactive, viewer=self.human)
        self.undo_btn.setEnabled(bool(self.snapshots) or self._partial())

    def _partial(self) -> bool:
        bg = self.pane.boards["backgammon"]
        return self.game == "backgammon" and bool(getattr(bg, "partial", []))

    def _pass(self, seq: int) -> None:
        if seq != self.seq:
            return
        self.human_move(0)

    def human_move(self, action: int) -> None:
        s = self.state
        if self.thinking or s.is_terminal() or s.current_player() != self.human or action not in s.legal_actions():
            self.pane.board.refuse()
            return
        self.snapshots.append((s.clone(), self.moves))
        s.apply_action(action)
        self.moves += 1
        self._last_move(None)
        self.pane.clear_values()
        self.advance()

    def request_move(self) -> None:
        self.seq += 1
        self.thinking = True
        pool, game, spec, state, judge, seq = (self.view.pool, self.game, self.opponent.spec(), self.state.clone(),
                                               self.agent_side, self.seq)
        self.pane.board.set_thinking(f"{spec} is thinking\u2026")
        rolled = f"{spec} rolled {dice_text(state)}. " if dice_text(state) else ""
        self.pane.set_status(f"{spec} is thinking\u2026", rolled + "It thinks in the background.")
        self.view.submit("arena:play", lambda: jobs.think(pool, game, spec, state, judge), tag=seq,
                         what=f"{agent_label(spec)} is thinking")

    def request_hint(self) -> None:
        pool, game, spec, state, judge, seq = (self.view.pool, self.game, self.opponent.spec(), self.state.clone(),
                                               self.agent_side, self.seq)
        self.view.submit("arena:hint", lambda: jobs.think(pool, game, spec, state, judge, move=False), tag=seq,
                         what="working out a hint")

    def on_result(self, kind: str, tag: Any, res: dict[str, Any]) -> None:
        if kind == "arena:load":
            if tag != (self.game, self.opponent.spec()):
                return
            if not res["ok"]:
                self.view.error(res["error"])
                self.pane.set_status("The opponent could not be loaded", res["error"])
            else:
                self.agent_desc = res["agent"]
                self.describe()
                if not self.thinking and not self.state.is_terminal() and self.state.current_player() == self.human:
                    self.pane.detail.setText(self._how_to())
            self.view.mark_painted()
            return
        if tag != self.seq:
            return  # an answer for a position that New game or Undo replaced
        if kind == "arena:hint":
            if res["ok"] and self.state.current_player() == self.human and self.hint.isChecked():
                self.pane.show_values(res, self.state, f"Hint: {self.opponent.spec()}'s values for your moves",
                                      hint=True)
                self.view.mark_painted()
            return
        self.thinking = False
        self.pane.board.set_thinking("")
        if not res["ok"]:
            self.view.error(res["error"])
            self.pane.set_status("The opponent could not move", res["error"])
            return
        self.pane.curve.add(self.moves, res["wp_before"])
        side = game_info(self.game).players[self.agent_side]
        self.pane.show_values(res, self.state, f"{self.opponent.spec()}'s values for its move ({side})")
        self.pane.set_status(f"{self.opponent.spec()} plays {res['text']}",
                             "Its value for every legal move is on the board and in the list below"
                             + (" (N = how often the search tried it)." if res["visits"] else "."))
        self.view.mark_painted()
        seq = self.seq
        QTimer.singleShot(self.reveal_ms, lambda: self._agent_moves(seq, res))

    def _agent_moves(self, seq: int, res: dict[str, Any]) -> None:
        s = self.state
        if seq != self.seq or s.current_player() != self.agent_side or res["choice"] not in s.legal_actions():
            return
        s.apply_action(res["choice"])
        self.moves += 1
        self.pane.board.set_overlay(None)  # the values were for the position before; the list keeps them
        self.pane.curve.add(self.moves, res["wp_after"])
        self._last_move(res.get("steps"))
        self.advance()
        if not s.is_terminal() and s.current_player() == self.human:
            self.pane.set_status(self.pane.status.text(),
                                 f"{self.opponent.spec()} played <b>{res['text']}</b>.<br>" + self._how_to())
        self.view.mark_painted()

    def _last_move(self, steps: Any) -> None:
        bg = self.pane.boards["backgammon"]
        assert isinstance(bg, BackgammonBoard)
        bg.set_last_move(self.agent_side, steps)

    def _finish(self) -> None:
        s = self.state
        self._show(interactive=False)
        w = s.winner()
        exact = 0.5 if w is None else float(w == self.agent_side)
        self.pane.curve.add(self.moves, exact)
        if not self.counted:
            self.counted = True
            self._counted_slot = 0 if w == self.human else 2 if w is not None else 1
            self.tally[self._counted_slot] += 1
            self._update_score()
            names = ["you", "you"]
            names[self.agent_side] = agent_label(self.opponent.spec())
            self.view.game_finished("play", s, (names[0], names[1]), self.start_state)
        points = s.returns()[self.human]
        extra = f" ({abs(points):g} points)" if abs(points) > 1 else ""
        text = "You win" if w == self.human else "Draw" if w is None else f"{self.opponent.spec()} wins"
        self.pane.set_status(text + extra, "New game starts another; Undo takes back your last move.")

    def _update_score(self) -> None:
        y, d, a = self.tally
        self.score.setText(f"You {y} \u00b7 draws {d} \u00b7 {agent_label(self.opponent.spec())} {a}")
        self.score.setToolTip(f"Games against {self.opponent.spec()}: you won {y}, drew {d}, lost {a}")

    def describe(self) -> None:
        """The view's header: the game, your side and the opponent."""
        info = game_info(self.game)
        desc = f": {self.agent_desc}" if self.agent_desc else ""
        self.view.show_source(f"{info.title}: you ({info.players[self.human]}) against "
                              f"{agent_label(self.opponent.spec())}", f"{self.opponent.spec()}{desc}")

    # --- undo and hints -------------------------------------------------------------------------

    def undo(self) -> None:
        bg = self.pane.boards["backgammon"]
        if self.game == "backgammon" and isinstance(bg, BackgammonBoard) and bg.undo_step():
            return
        if not self.snapshots:
            self.pane.board.refuse()
            return
        self.seq += 1
        self.thinking = False
        self.pane.board.set_thinking("")
        if self.counted:  # a finished game taken back no longer counts
            self.tally[self._counted_slot] -= 1
            self.counted = False
        self.state, self.moves = self.snapshots.pop()
        self.pane.curve.truncate(self.moves)
        self.pane.clear_values()
        self._last_move(None)
        self.advance()

    def _partial_changed(self) -> None:
        self.undo_btn.setEnabled(bool(self.snapshots) or self._partial())

    def _hint_toggled(self) -> None:
        s = self.state
        if self.hint.isChecked() and not s.is_terminal() and s.current_player() == self.human:
            self.request_hint()
        elif not self.hint.isChecked() and self.pane.board.overlay is not None and self.pane.board.overlay.hint:
            self.pane.clear_values()

    def set_position(self, state: State) -> None:
        """Continue from ``state`` (a test or a screenshot sets up a position, with dice if it likes)."""
        if state.game_name != self.game:
            self.game_box.set_game(state.game_name)
        self.seq += 1
        self.state = state.clone()
        self.start_state = state.clone()
        self.moves, self.snapshots, self.counted, self.thinking = 0, [], False, False
        self.pane.board.set_thinking("")
        self.pane.curve.reset()
        self.pane.clear_values()
        self._last_move(None)
        self.advance()
