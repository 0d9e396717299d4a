"""The Arena view: play a board game against a trained agent, watch agents play, train new ones.

Pages: Play (the human against an agent, with the agent's values over the board and its win
probability under it), Watch (agent A against agent B at a chosen speed, with a running score),
Train (Q-learning, SARSA, TD(lambda) or self-play, with the score against reference opponents and the
Elo ladder of a run's checkpoints), Positions (a tabular tic-tac-toe agent's whole table as the game
tree, flaws marked), Search (the tree an MCTS or self-play agent grows for its next move, simulation by
simulation) and Replay (a finished game move by move with an agent's values, blunders marked).
The agents learn by the rules of the seed's last lecture: Q-learning and SARSA on tic-tac-toe with
r = +1 / 0 / -1, TD(lambda) as in TD-Gammon, self-play with search as in AlphaGo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QTabWidget

from app.views.arena.controls import remember_saved_agent
from app.views.arena.play import PlayPanel
from app.views.arena.positions import PositionsPanel
from app.views.arena.replay import ReplayPanel
from app.views.arena.search import SearchPanel
from app.views.arena.training import TrainPanel
from app.views.arena.watch import WatchPanel
from app.views.base import View
from app.widgets.names import named
from engine.errors import UserError
from engine.rl.game import State
from engine.rl.play import AgentPool
from engine.rl.replay import record_from_state

if TYPE_CHECKING:
    from app.context import AppContext


class ArenaView(View):
    key = "arena"
    title = "Arena"
    follows_model = False  # agents, not the language model

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.pool = AgentPool()  # touched only by jobs, in the engine thread
        self.play = PlayPanel(self)
        self.watch = WatchPanel(self)
        self.train = TrainPanel(self)
        self.positions = PositionsPanel(self)
        self.search = SearchPanel(self)
        self.replay = ReplayPanel(self)
        self.tabs = named(QTabWidget(), "arena.pages", "Play, watch or train")
        self.tabs.addTab(self.play, "Play")
        self.tabs.addTab(self.watch, "Watch")
        self.tabs.addTab(self.train, "Train")
        self.tabs.addTab(self.positions, "Positions")
        self.tabs.addTab(self.search, "Search")
        self.tabs.addTab(self.replay, "Replay")
        self.tabs.currentChanged.connect(self._page_changed)
        self.layout_.setContentsMargins(4, 4, 4, 4)
        self.layout_.addWidget(self.tabs, 1)
        self._started = False
        self.show_source("Arena", "board games against agents that learned them")

    def showEvent(self, ev) -> None:  # noqa: N802
        super().showEvent(ev)
        if not self._started:
            self._started = True
            self.play.load_opponent(new_game=True)

    def submit(self, kind: str, fn: Callable[[], Any], tag: Any = None, what: str = "thinking") -> None:
        """Run an Arena job; its result comes back to the page that asked (a newer job of the same kind
        replaces a waiting one)."""
        self.run(fn, lambda value: self._route(kind, tag, value), key=kind, what=what)

    def painted_once(self) -> None:
        self.mark_painted()

    def error(self, text: str) -> None:
        self.show_error(text)

    def _route(self, kind: str, tag: Any, value: Any) -> None:
        if kind in ("arena:play", "arena:hint", "arena:load"):
            self.play.on_result(kind, tag, value)
        elif kind == "arena:watch":
            self.watch.on_result(tag, value)
        elif kind == "arena:replay":
            self.replay.on_result(tag, value)

    def game_finished(self, page: str, final: State, players: tuple[str, str], start: State | None = None) -> None:
        """A game of the Play or Watch page ended: offer it on the Replay page."""
        try:
            record = record_from_state(final, players, start=start, source=page)
        except UserError:
            return  # a position set up without its history (a test's) is no game to replay
        self.replay.offer(page, record)

    def _page_changed(self, index: int) -> None:
        if self.tabs.widget(index) is not self.watch:
            self.watch.stop()  # a match in a hidden page would only use the engine
        if self.tabs.widget(index) is not self.search:
            self.search.stop()  # so would a search nobody looks at
        page = self.tabs.widget(index)
        if hasattr(page, "describe"):
            page.describe()

    def play_against(self, game: str, path: str) -> None:
        """Make a trained agent the Play page's opponent and start a game against it."""
        remember_saved_agent(game, path)
        self.tabs.setCurrentWidget(self.play)
        if self.play.game != game:
            self.play.game_box.set_game(game)
        self.play.opponent.set_game(game)
        self.play.opponent.set_spec(path)
