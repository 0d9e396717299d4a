"""The one small game API every agent, trainer and view uses (modelled on OpenSpiel).

A game is a sequence of states. At each state either a player (0 or 1) chooses one of
``legal_actions()`` (integers), or chance picks an outcome from ``chance_outcomes()``
(pairs ``(outcome, probability)``), or the game is over and ``returns()`` gives each player's
reward, ``r = +1`` win, ``0`` draw, ``-1`` loss as in the seed's tic-tac-toe (backgammon's gammons
and backgammons score 2 and 3).
"""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from engine.errors import UserError
from engine.validate import parse_json

CHANCE = -1
TERMINAL = -4


class State(ABC):
    """One position of a two-player game; mutable, so copy with :meth:`clone` before exploring."""

    game_name: ClassVar[str] = ""

    @abstractmethod
    def current_player(self) -> int:
        """0 or 1 to move, :data:`CHANCE` at a chance node, :data:`TERMINAL` when over."""

    @abstractmethod
    def legal_actions(self) -> list[int]:
        """Action ids the player to move may choose (chance outcomes at a chance node)."""

    @abstractmethod
    def apply_action(self, action: int) -> None:
        """Play ``action`` (or the chance outcome) in place."""

    @abstractmethod
    def clone(self) -> State: ...

    @abstractmethod
    def is_terminal(self) -> bool: ...

    @abstractmethod
    def returns(self) -> list[float]:
        """Final reward of each player (zeros while the game is running)."""

    def is_chance_node(self) -> bool:
        return self.current_player() == CHANCE

    def chance_outcomes(self) -> list[tuple[int, float]]:
        return []

    @abstractmethod
    def observation_tensor(self, player: int | None = None) -> np.ndarray:
        """Float vector describing the position from ``player``'s view (default: the one to move)."""

    @abstractmethod
    def action_to_string(self, action: int) -> str: ...

    def string_to_action(self, text: str) -> int:
        """Parse a human's move; the default accepts exactly what :meth:`action_to_string` prints."""
        text = text.strip().lower()
        for a in self.legal_actions():
            if self.action_to_string(a).lower() == text:
                return a
        raise UserError(f"'{text}' is not a legal move here.")

    @abstractmethod
    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    @abstractmethod
    def from_dict(cls, data: dict[str, Any]) -> State: ...

    def to_json(self) -> str:
        return json.dumps({"game": self.game_name, **self.to_dict()})

    def apply_random_chance(self, rng: random.Random) -> int:
        """Sample and apply a chance outcome; returns it."""
        outcomes = self.chance_outcomes()
        r, acc = rng.random(), 0.0
        for outcome, p in outcomes:
            acc += p
            if r < acc:
                self.apply_action(outcome)
                return outcome
        self.apply_action(outcomes[-1][0])
        return outcomes[-1][0]

    def winner(self) -> int | None:
        """0 or 1 when that player won, None for a draw or a running game."""
        if not self.is_terminal():
            return None
        r = self.returns()
        if r[0] > r[1]:
            return 0
        if r[1] > r[0]:
            return 1
        return None


@dataclass(frozen=True)
class GameInfo:
    """Everything the engine, the CLI and the Arena need to know about one game, in one place."""

    name: str  # the id used everywhere (--game, agent files)
    title: str  # as a user reads it
    players: tuple[str, str]  # player 0 and 1 as named in the status line
    colors: tuple[str, str]  # one colour per player (marks, discs, checkers), as #rrggbb
    agents: tuple[str, ...]  # the agent names offered for it, strongest first
    default_agent: str  # the trained agent shipped in assets/agents/
    agent_file: str  # what a training run saves its agent as
    references: tuple[str, ...]  # reference opponents a training run is scored against; the last one is
    #                             the yardstick for keeping the best agent
    training: dict[str, dict[str, Any]] = field(default_factory=dict)  # algorithm -> default settings

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(self.training)


class Game(ABC):
    """Factory and constants of one game."""

    name: ClassVar[str] = ""
    has_chance: ClassVar[bool] = False
    info: ClassVar[GameInfo]

    @abstractmethod
    def new_initial_state(self) -> State: ...

    @abstractmethod
    def state_class(self) -> type[State]: ...

    def state_from_json(self, text: str) -> State:
        data = parse_json(text, f"That is not a saved {self.name} position")
        if not isinstance(data, dict) or data.get("game") != self.name:
            raise UserError(f"That is not a saved {self.name} position.")
        try:
            return self.state_class().from_dict(data)
        except (KeyError, TypeError, ValueError, IndexError, OverflowError, AttributeError, UserError) as e:
            raise UserError(f"That saved {self.name} position is damaged ({str(e)[:120]}).") from None


def get_game(name: str) -> Game:
    """The game called ``name`` (tictactoe, connect4, backgammon)."""
    from engine.rl.backgammon import Backgammon
    from engine.rl.connect4 import ConnectFour
    from engine.rl.tictactoe import TicTacToe

    games: dict[str, type[Game]] = {"tictactoe": TicTacToe, "connect4": ConnectFour, "backgammon": Backgammon}
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in games:
        raise UserError(f"Unknown game '{name}'; choose tictactoe, connect4 or backgammon.")
    return games[key]()


GAME_NAMES = ("tictactoe", "connect4", "backgammon")


def game_info(name: str) -> GameInfo:
    """The facts of the game called ``name`` (see :class:`GameInfo`)."""
    return get_game(name).info
