"""Watch: two agents play each other at a chosen speed, game after game, with a running score.

Each move is one timed bridge request (``jobs.think`` for the agent to move), so the engine's task slot
stays free for training and the GUI never waits. A and B swap sides every game, as ``txe rl eval`` does.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from app.views.arena.backgammon_board import BackgammonBoard
from app.views.arena.controls import AgentChooser, GameCombo, agent_label
from app.views.arena.game_pane import GamePane
from app.views.arena.play import dice_text
from app.widgets.names import named
from engine.rl import play as jobs
from engine.rl.game import State, game_info, get_game

if TYPE_CHECKING:
    from app.views.arena.view import ArenaView

MAX_SPEED = 21  # the slider's last notch: as fast as the engine answers


class WatchPanel(QWidget):
    def __init__(self, view: ArenaView) -> None:
        super().__init__()
        self.view = view
        self.game_box = named(GameCombo(), "arena.watch-game", "Game to watch")
        self.agent_a = AgentChooser("arena.agent-a", "Agent A", "default")
        self.agent_b = AgentChooser("arena.agent-b", "Agent B", "random")
        self.speed = named(QSlider(Qt.Orientation.Horizontal), "arena.speed", "Moves per second")
        self.speed.setRange(1, MAX_SPEED)
        self.speed.setValue(3)
        self.speed.setFixedWidth(140)
        self.speed_label = QLabel()
        self.play_btn = named(QPushButton("Play"), "arena.watch-play", "Play or pause the match")
        self.play_btn.setCheckable(True)
        self.step_btn = named(QPushButton("Step"), "arena.watch-step", "One move")
        self.reset_btn = named(QPushButton("New match"), "arena.watch-new", "New match")
        self.score = named(QLabel(), "arena.watch-score", "Score of the match")
        bar = QHBoxLayout()
        for label, w in (("Game", self.game_box), ("A", self.agent_a), ("B", self.agent_b)):
            bar.addWidget(QLabel(label))
            bar.addWidget(w)
        bar.addWidget(QLabel("Speed"))
        bar.addWidget(self.speed)
        bar.addWidget(self.speed_label)
        for w in (self.play_btn, self.step_btn, self.reset_btn):
            bar.addWidget(w)
        bar.addStretch(1)
        self.pane = GamePane("arena.watch")
        self.pane.curve.set_subject("A")
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        score_row = QHBoxLayout()
        score_row.addWidget(self.score)
        score_row.addStretch(1)
        lay.addLayout(score_row)
        lay.addWidget(self.pane, 1)

        self.rng = random.Random()
        self.state: State = get_game("tictactoe").new_initial_state()
        self.moves = 0
        self.seq = 0
        self.waiting = False
        self.revealing = False
        self.games = 0  # finished games of this match
        self.score_abd = [0, 0, 0]  # A wins, draws, B wins
        self.finished: list[tuple[str | None, int, int]] = []  # per game: winner (A, B, None), moves, curve points
        self.a_side = 0
        self.recorded = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.tick)

        self.game_box.currentIndexChanged.connect(lambda _i: self.new_match())
        self.agent_a.changed.connect(lambda _s: self.new_match())
        self.agent_b.changed.connect(lambda _s: self.new_match())
        self.speed.valueChanged.connect(self._speed_changed)
        self.play_btn.toggled.connect(self._play_toggled)
        self.step_btn.clicked.connect(self.step)
        self.reset_btn.clicked.connect(self.new_match)
        self.agent_a.set_game("tictactoe")
        self.agent_b.set_game("tictactoe")
        self._speed_changed()
        self.new_match()

    @property
    def game(self) -> str:
        return self.game_box.game()

    @property
    def playing(self) -> bool:
        return self.play_btn.isChecked()

    def delay_ms(self) -> int:
        v = self.speed.value()
        return 0 if v >= MAX_SPEED else int(1000 / v)

    def _speed_changed(self) -> None:
        v = self.speed.value()
        self.speed_label.setText("max" if v >= MAX_SPEED else f"{v} moves/s")

    def _play_toggled(self, on: bool) -> None:
        self.play_btn.setText("Pause" if on else "Play")
        self.step_btn.setEnabled(not on)
        if on:
            self.tick()
        else:
            self.timer.stop()

    # --- match and games ------------------------------------------------------------------------

    def new_match(self) -> None:
        if self.agent_a.game != self.game:
            self.agent_a.set_game(self.game)
            self.agent_b.set_game(self.game)
        self.games, self.score_abd, self.finished = 0, [0, 0, 0], []
        self.pane.set_game(self.game)
        self.new_game()
        if self.isVisible():
            self.describe()

    def describe(self) -> None:
        """The view's header: the game and the two agents."""
        a, b = agent_label(self.agent_a.spec()), agent_label(self.agent_b.spec())
        self.view.show_source(f"{game_info(self.game).title}: {a} (A) against {b} (B)",
                              "sides swap every game")

    def new_game(self) -> None:
        self.seq += 1
        self.waiting = self.revealing = False
        self.a_side = self.games % 2
        self.state = get_game(self.game).new_initial_state()
        self.moves, self.recorded = 0, False
        self.pane.curve.reset()
        self.pane.clear_values()
        self.pane.board.set_thinking("")
        self._last_move(0, None)
        self._show()
        self._update_score()

    def spec_of(self, player: int) -> tuple[str, str]:
        """(agent spec, slot) of the agent playing ``player`` this game."""
        return (self.agent_a.spec(), "A") if player == self.a_side else (self.agent_b.spec(), "B")

    def _show(self) -> None:
        self.pane.board.set_state(self.state, False, viewer=0)
        names = game_info(self.game).players
        a, b = self.agent_a.spec(), self.agent_b.spec()
        self.pane.set_status(self._status(), f"A = {a} plays {names[self.a_side]}, B = {b} plays "
                                             f"{names[1 - self.a_side]}")

    def _status(self) -> str:
        s = self.state
        if s.is_terminal():
            w = s.winner()
            return "Draw" if w is None else f"{'A' if w == self.a_side else 'B'} wins game {self.games}"
        if s.is_chance_node():
            return f"Game {self.games + 1}"
        spec, slot = self.spec_of(s.current_player())
        roll = f" ({dice_text(s)})" if dice_text(s) else ""
        return f"Game {self.games + 1}: {slot} ({spec}) to move{roll}"

    def step(self) -> None:
        """One move (or the next game once this one is over)."""
        if not self.waiting and not self.revealing:
            self.tick(single=True)

    def tick(self, single: bool = False) -> None:
        s = self.state
        if self.waiting or self.revealing:
            return
        if s.is_terminal():
            if not self.recorded:
                self._record()
                if self.playing:
                    self.timer.start(max(150, 3 * self.delay_ms()))  # a moment to see the final position
                return
            self.new_game()
            if self.playing and not single:
                self.timer.start(self.delay_ms())
            return
        if s.is_chance_node():
            s.apply_random_chance(self.rng)
            self._show()
            if self.playing and not single:
                self.timer.start(self.delay_ms())
            return
        mover = s.current_player()
        spec, slot = self.spec_of(mover)
        self.seq += 1
        self.waiting = True
        pool, game, state, judge, seq = self.view.pool, self.game, s.clone(), self.a_side, self.seq
        self.view.submit("arena:watch", lambda: jobs.think(pool, game, spec, state, judge, slot=slot), tag=seq,
                         what=f"{agent_label(spec)} is thinking")
        if self.delay_ms() >= 300:
            self.pane.board.set_thinking(f"{slot} is thinking\u2026")

    def on_result(self, tag: Any, res: dict[str, Any]) -> None:
        if tag != self.seq:
            return
        self.waiting = False
        self.pane.board.set_thinking("")
        if not res["ok"]:
            self.view.error(res["error"])
            self.pane.set_status("An agent could not move", res["error"])
            self.play_btn.setChecked(False)
            return
        s = self.state
        if res["choice"] not in s.legal_actions():
            return
        mover = s.current_player()
        slot = self.spec_of(mover)[1]
        self.pane.show_values(res, s.clone(), f"{slot}'s values for its move ({game_info(self.game).players[mover]})")
        self.view.mark_painted()
        self.revealing = True
        seq = self.seq
        QTimer.singleShot(self.delay_ms() // 2, lambda: self._apply(seq, mover, res))

    def _apply(self, seq: int, mover: int, res: dict[str, Any]) -> None:
        """Half a move's time shows the values over the position, then the move lands."""
        self.revealing = False
        s = self.state
        if seq != self.seq or res["choice"] not in s.legal_actions():
            return
        s.apply_action(res["choice"])
        self.moves += 1
        self.pane.board.set_overlay(None)
        self.pane.curve.add(self.moves, res["wp_after"])
        self._last_move(mover, res.get("steps"))
        self._show()
        self.view.mark_painted()
        if self.playing:
            self.timer.start(self.delay_ms() - self.delay_ms() // 2)

    def _record(self) -> None:
        self.recorded = True
        self.games += 1
        w = self.state.winner()
        self.score_abd[1 if w is None else 0 if w == self.a_side else 2] += 1
        self.pane.curve.add(self.moves, 0.5 if w is None else float(w == self.a_side))
        self.finished.append((None if w is None else "A" if w == self.a_side else "B", self.moves,
                              self.pane.curve.points()))
        names = [f"B {agent_label(self.agent_b.spec())}"] * 2
        names[self.a_side] = f"A {agent_label(self.agent_a.spec())}"
        self.view.game_finished("watch", self.state, (names[0], names[1]))
        self._show()
        self._update_score()

    def _update_score(self) -> None:
        a, d, b = self.score_abd
        n = max(1, self.games)
        self.score.setText(f"<b>Score after {self.games} game{'s' if self.games != 1 else ''}:</b> "
                           f"A {a} \u00b7 draws {d} \u00b7 B {b}" + (f" &nbsp; (A scores {(a + d / 2) / n:.0%})"
                                                                   if self.games else ""))

    def _last_move(self, player: int, steps: Any) -> None:
        bg = self.pane.boards["backgammon"]
        assert isinstance(bg, BackgammonBoard)
        bg.set_last_move(player, steps)

    def stop(self) -> None:
        self.play_btn.setChecked(False)
