"""Tic-tac-toe: player 0 is X and moves first; action = cell 0..8, row by row."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.rl.game import TERMINAL, Game, GameInfo, State
from engine.validate import whole

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
MARKS = ".XO"


class TicTacToeState(State):
    game_name = "tictactoe"

    def __init__(self, board: list[int] | None = None) -> None:
        self.board = list(board) if board is not None else [0] * 9  # 0 empty, 1 X, 2 O
        self.history: list[int] = []
        self._winner = self._find_winner()

    def _find_winner(self) -> int | None:
        b = self.board
        for i, j, k in LINES:
            if b[i] and b[i] == b[j] == b[k]:
                return b[i] - 1
        return None

    def current_player(self) -> int:
        if self.is_terminal():
            return TERMINAL
        return sum(1 for c in self.board if c) % 2

    def legal_actions(self) -> list[int]:
        if self.is_terminal():
            return []
        return [i for i, c in enumerate(self.board) if c == 0]

    def apply_action(self, action: int) -> None:
        if action not in self.legal_actions():
            raise ValueError(f"illegal tic-tac-toe move {action}")
        self.board[action] = self.current_player() + 1
        self.history.append(action)
        self._winner = self._find_winner()

    def clone(self) -> TicTacToeState:
        s = TicTacToeState.__new__(TicTacToeState)
        s.board = self.board[:]
        s.history = self.history[:]
        s._winner = self._winner
        return s

    def is_terminal(self) -> bool:
        return self._winner is not None or all(self.board)

    def returns(self) -> list[float]:
        if self._winner is None:
            return [0.0, 0.0]
        return [1.0, -1.0] if self._winner == 0 else [-1.0, 1.0]

    def key(self) -> str:
        """Compact key for tables: the board as 9 characters (whose turn follows from it)."""
        return "".join(MARKS[c] for c in self.board)

    def observation_tensor(self, player: int | None = None) -> np.ndarray:
        """3x9 planes: the viewer's marks, the opponent's marks, empty cells."""
        p = self.current_player() if player is None else player
        p = 0 if p < 0 else p
        b = np.array(self.board)
        return np.concatenate([(b == p + 1), (b == 2 - p), (b == 0)]).astype(np.float32)

    def action_to_string(self, action: int) -> str:
        return str(action + 1)  # humans type cells 1..9

    def string_to_action(self, text: str) -> int:
        return super().string_to_action(text)

    def __str__(self) -> str:
        rows = ["".join(MARKS[c] for c in self.board[r * 3:r * 3 + 3]) for r in range(3)]
        return "\n".join(rows)

    def to_dict(self) -> dict[str, Any]:
        return {"board": self.board, "history": self.history}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TicTacToeState:
        board = data["board"]
        if not isinstance(board, list) or len(board) != 9:
            raise ValueError("board must be 9 cells of 0, 1, 2")
        s = cls([whole(c, "board cell", 0, 2) for c in board])
        history = data.get("history", [])
        if not isinstance(history, list) or len(history) > 9:
            raise ValueError("history must be a list of at most 9 moves")
        s.history = [whole(a, "move", 0, 8) for a in history]
        return s


class TicTacToe(Game):
    name = "tictactoe"
    info = GameInfo(
        "tictactoe", "Tic-tac-toe", ("X", "O"), ("#2c6fbb", "#e0593b"),
        agents=("default", "perfect", "mcts:200", "mcts:1000", "random"), default_agent="tictactoe.json",
        agent_file="agent.json", references=("random", "perfect"),
        training={
            "q": {"games": 100_000, "lr": 0.5, "gamma": 0.9, "epsilon_start": 1.0, "epsilon_end": 0.02,
                  "eval_every": 20_000, "eval_games": 200},
            "sarsa": {"games": 100_000, "lr": 0.5, "gamma": 0.9, "epsilon_start": 1.0, "epsilon_end": 0.02,
                      "eval_every": 20_000, "eval_games": 200},
        })
    num_actions = 9

    def new_initial_state(self) -> TicTacToeState:
        return TicTacToeState()

    def state_class(self) -> type[TicTacToeState]:
        return TicTacToeState
