"""The Arena view: play a board game against a trained agent, watch agents play, train new ones.

Three pages: Play (the human against an agent, with the agent's values over the board and its win
probability under it), Watch (agent A against agent B at a chosen speed, with a running score) and
Train (Q-learning, SARSA, TD(lambda) or self-play, with the score against reference opponents).
The agents learn by the rules of the seed's last lecture: Q-learning and SARSA on tic-tac-toe with
r = +1 / 0 / -1, TD(lambda) as in TD-Gammon, self-play with search as in AlphaGo.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from app.bridge import EngineBridge
from app.views.arena.controls import remember_saved_agent
from app.views.arena.jobs import AgentPool
from app.views.arena.play import PlayPanel
from app.views.arena.training import TrainPanel
from app.views.arena.watch import WatchPanel


class ArenaView(QWidget):
    key = "arena"
    title = "Arena"

    def __init__(self) -> None:
        super().__init__()
        self.window_: Any = None
        self.pool = AgentPool()  # touched only by jobs, in the engine thread
        self.play = PlayPanel(self)
        self.watch = WatchPanel(self)
        self.train = TrainPanel(self)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.play, "Play")
        self.tabs.addTab(self.watch, "Watch")
        self.tabs.addTab(self.train, "Train")
        self.tabs.currentChanged.connect(self._page_changed)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.tabs)
        self._started = False

    # --- wiring -----------------------------------------------------------------------------

    def attach(self, window) -> None:
        self.window_ = window
        b = window.bridge
        b.result.connect(self._on_result)
        b.task_events.connect(self.train.on_events)
        b.task_paused.connect(self.train.on_paused)
        b.task_finished.connect(self.train.on_finished)

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        if not self._started and self.window_ is not None:
            self._started = True
            self.play.load_opponent(new_game=True)

    def bridge(self) -> EngineBridge:
        return self.window_.bridge

    def submit(self, kind: str, fn, tag: Any = None) -> None:
        self.window_.bridge.submit(kind, fn, tag)

    def painted(self) -> None:
        self.window_.painted[self.key] += 1

    def error(self, text: str) -> None:
        self.window_.show_message("error", text)

    def last_error(self) -> str:
        return self.window_.last_error

    def _on_result(self, kind: str, tag: Any, value: Any) -> None:
        if kind in ("arena:play", "arena:hint", "arena:load"):
            self.play.on_result(kind, tag, value)
        elif kind == "arena:watch":
            self.watch.on_result(tag, value)

    def _page_changed(self, index: int) -> None:
        if self.tabs.widget(index) is not self.watch:
            self.watch.stop()  # a match in a hidden page would only use the engine

    def play_against(self, game: str, path: str) -> None:
        """Make a trained agent the Play page's opponent and start a game against it."""
        remember_saved_agent(game, path)
        self.tabs.setCurrentWidget(self.play)
        if self.play.game != game:
            self.play.game_box.set_game(game)
        self.play.opponent.set_game(game)
        self.play.opponent.set_spec(path)
