"""Connect Four on the standard 7 columns x 6 rows; action = column 0..6 (shown as 1..7).

Bitboards (one Python int per player, 7 bits per column: 6 cells plus a sentinel) make move
generation and win tests a few shifts, which is what keeps pure-Python MCTS rollouts usable.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from engine.rl.game import TERMINAL, Game, GameInfo, State
from engine.validate import whole

COLS, ROWS = 7, 6
H1 = ROWS + 1  # bits per column
TOP = [(1 << (c * H1 + ROWS - 1)) for c in range(COLS)]  # highest playable cell per column
BOTTOM = [(1 << (c * H1)) for c in range(COLS)]


def has_four(b: int) -> bool:
    """True if bitboard ``b`` holds four in a row (vertical 1, horizontal 7, diagonals 6 and 8)."""
    for d in (1, H1, H1 - 1, H1 + 1):
        m = b & (b >> d)
        if m & (m >> (2 * d)):
            return True
    return False


class ConnectFourState(State):
    game_name = "connect4"

    def __init__(self) -> None:
        self.bits = [0, 0]  # cells of player 0 and player 1
        self.heights = [0] * COLS
        self.player = 0
        self.history: list[int] = []
        self._winner: int | None = None

    def current_player(self) -> int:
        return TERMINAL if self.is_terminal() else self.player

    def legal_actions(self) -> list[int]:
        if self.is_terminal():
            return []
        return [c for c in range(COLS) if self.heights[c] < ROWS]

    def apply_action(self, action: int) -> None:
        if self.is_terminal() or not (0 <= action < COLS) or self.heights[action] >= ROWS:
            raise ValueError(f"illegal Connect Four move {action}")
        p = self.player
        self.bits[p] |= 1 << (action * H1 + self.heights[action])
        self.heights[action] += 1
        self.history.append(action)
        if has_four(self.bits[p]):
            self._winner = p
        self.player = 1 - p

    def undo(self) -> None:
        """Take back the last move (cheaper than cloning for search)."""
        action = self.history.pop()
        self.player = 1 - self.player
        self.heights[action] -= 1
        self.bits[self.player] &= ~(1 << (action * H1 + self.heights[action]))
        self._winner = None

    def clone(self) -> ConnectFourState:
        s = ConnectFourState.__new__(ConnectFourState)
        s.bits = self.bits[:]
        s.heights = self.heights[:]
        s.player = self.player
        s.history = self.history[:]
        s._winner = self._winner
        return s

    def is_terminal(self) -> bool:
        return self._winner is not None or len(self.history) == COLS * ROWS

    def returns(self) -> list[float]:
        if self._winner is None:
            return [0.0, 0.0]
        return [1.0, -1.0] if self._winner == 0 else [-1.0, 1.0]

    def is_winning_move(self, action: int) -> bool:
        """Would dropping in column ``action`` win for the player to move?"""
        if self.heights[action] >= ROWS:
            return False
        return has_four(self.bits[self.player] | (1 << (action * H1 + self.heights[action])))

    def cell(self, row: int, col: int) -> int:
        """0 empty, 1 player 0, 2 player 1 (row 0 is the bottom)."""
        bit = 1 << (col * H1 + row)
        return 1 if self.bits[0] & bit else 2 if self.bits[1] & bit else 0

    def observation_tensor(self, player: int | None = None) -> np.ndarray:
        """2x6x7 planes flattened: the viewer's discs, then the opponent's (row 0 at the bottom)."""
        p = self.player if player is None or player < 0 else player
        out = np.zeros((2, ROWS, COLS), dtype=np.float32)
        for c in range(COLS):
            for r in range(self.heights[c]):
                who = self.cell(r, c) - 1
                out[0 if who == p else 1, r, c] = 1.0
        return out.reshape(-1)

    def key(self) -> tuple[int, int]:
        return (self.bits[0], self.bits[1])

    def random_playout(self, rng: random.Random) -> int | None:
        """Play random moves to the end on a scratch copy; returns the winner (None: draw)."""
        bits, heights, p = self.bits[:], self.heights[:], self.player
        if self._winner is not None:
            return self._winner
        n = len(self.history)
        while n < COLS * ROWS:
            cols = [c for c in range(COLS) if heights[c] < ROWS]
            c = cols[int(rng.random() * len(cols))]
            bits[p] |= 1 << (c * H1 + heights[c])
            heights[c] += 1
            n += 1
            if has_four(bits[p]):
                return p
            p = 1 - p
        return None

    def action_to_string(self, action: int) -> str:
        return str(action + 1)

    def __str__(self) -> str:
        marks = ".XO"
        rows = ["".join(marks[self.cell(r, c)] for c in range(COLS)) for r in range(ROWS - 1, -1, -1)]
        return "\n".join(rows + ["1234567"])

    def to_dict(self) -> dict[str, Any]:
        return {"history": self.history}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConnectFourState:
        s = cls()
        history = data["history"]
        if not isinstance(history, list) or len(history) > ROWS * COLS:
            raise ValueError(f"history must be a list of at most {ROWS * COLS} moves")
        for a in history:
            s.apply_action(whole(a, "move", 0, COLS - 1))
        return s


class ConnectFour(Game):
    name = "connect4"
    info = GameInfo(
        "connect4", "Connect Four", ("Red", "Yellow"), ("#d93a2b", "#f2c230"),
        agents=("default", "mcts:200", "mcts:1000", "alphabeta:4", "alphabeta:6", "random"),
        default_agent="connect4.safetensors", agent_file="agent.safetensors", references=("random", "mcts:200"),
        training={
            "td": {"games": 20_000, "hidden": 80, "lr": 0.05, "lam": 0.7, "epsilon_start": 0.1, "epsilon_end": 0.1,
                   "eval_every": 2_000, "eval_games": 40},
            "selfplay": {"games": 3_000, "sims": 100, "eval_sims": 400, "lr": 1e-3, "hidden": 256,
                         "eval_every": 1_000, "eval_games": 20},
        })
    num_actions = COLS

    def new_initial_state(self) -> ConnectFourState:
        return ConnectFourState()

    def state_class(self) -> type[ConnectFourState]:
        return ConnectFourState
