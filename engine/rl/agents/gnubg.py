"""GNU Backgammon's 0-ply neural network (PyPI ``gnubg-nn``) as a reference opponent and a judge.

gnubg evaluates a position with the player on roll about to roll and answers GNU Backgammon's five
probabilities for that player: P(win), P(win gammon or better), P(win backgammon), P(lose gammon or
worse), P(lose backgammon). Its 0-ply move choice picks the legal move whose resulting position has the
best cubeless equity for the mover (contact, crashed and race networks, and a one-sided bear-off
database). Its board is ``[[...], [...]]`` of two 25-entry lists in each side's own numbering (points
1..24, then the bar), the player *not* on roll first; its moves are (from, to) steps with 25 = bar and
0 = off, our own step numbering. Checked empirically in tests/rl/test_gammon.py (its move is always one of
our legal turns).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.errors import UserError
from engine.rl.agents.base import Agent
from engine.rl.agents.td import GAMMON_OUTPUTS, equity, flip_probs, result_probs
from engine.rl.backgammon import BAR, OFF, BackgammonState, Board, apply_single
from engine.rl.game import State


def _gnubg() -> Any:
    try:
        import gnubg_nn
    except ImportError as e:  # an installation without the package: say so, once, clearly
        raise UserError(f"The gnubg agent needs the Python package gnubg-nn ({e}).") from None
    return gnubg_nn


def on_roll_probabilities(me: Board, opp: Board) -> np.ndarray:
    """gnubg's five probabilities (0-ply) for the player ``me`` about to roll, against ``opp``."""
    return np.array(_gnubg().probabilities([list(opp), list(me)], 0), dtype=np.float64)


def afterstate_probabilities(me: Board, opp: Board) -> np.ndarray:
    """gnubg's five probabilities for the player who just moved into (``me``, ``opp``): the opponent is on
    roll, so its view flipped. A position where ``me`` has borne off every checker is the known result."""
    known = result_probs(np.array([me]), np.array([opp]), 5)[0]
    if not np.isnan(known).any():
        return known
    return flip_probs(on_roll_probabilities(opp, me))


def apply_steps(me: Board, opp: Board, steps: Any) -> tuple[Board, Board]:
    """The position after gnubg's (from, to) steps (25 = bar, 0 = off) played in order."""
    for src, dst in steps:
        me, opp, _ = apply_single(me, opp, BAR if src == 25 else src - 1, OFF if dst == 0 else dst - 1)
    return me, opp


class GnubgAgent(Agent):
    """Plays GNU Backgammon's 0-ply move; values are gnubg's cubeless equities of each legal move."""

    name = "gnubg"
    games = ("backgammon",)
    outputs = 5

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        _gnubg()  # fail at once, not at the first move

    def describe(self) -> str:
        return "gnubg (0-ply)"

    def gnubg_action(self, state: BackgammonState) -> int:
        """Our action id for gnubg's choice, matched by the resulting position."""
        turns = state.legal_turns()
        if len(turns) == 1:
            return 0
        p = state.player
        me, opp = state.board[p], state.board[1 - p]
        d1, d2 = state.dice  # type: ignore[misc]
        steps = _gnubg().best_move([list(opp), list(me)], d1, d2)
        result = apply_steps(me, opp, steps)
        for i, (_, m, o) in enumerate(turns):
            if (m, o) == result:
                return i
        raise RuntimeError(f"gnubg's move {steps} with {d1}-{d2} is none of our legal turns")  # a bug, not input

    def step(self, state: State) -> int:
        assert isinstance(state, BackgammonState)
        return self.gnubg_action(state)

    def move_probs(self, state: BackgammonState) -> np.ndarray:
        """(n, 5): gnubg's probabilities for the mover after each legal turn."""
        return np.array([afterstate_probabilities(m, o) for _, m, o in state.legal_turns()])

    def move_details(self, state: State) -> tuple[dict[int, float], dict[int, dict[str, float]]]:
        """(equity per legal action, per action the five probabilities and the equity)."""
        assert isinstance(state, BackgammonState)
        values, details = {}, {}
        for a, row in enumerate(self.move_probs(state)):
            e = float(equity(row))
            values[a] = e
            details[a] = {**{k: float(x) for k, x in zip(GAMMON_OUTPUTS, row, strict=True)}, "equity": e}
        return values, details

    def action_values(self, state: State) -> dict[int, float]:
        return self.move_details(state)[0]

    def win_probability(self, state: State) -> float | None:
        assert isinstance(state, BackgammonState)
        if state.is_terminal():
            return None
        if state.first:  # nobody has rolled yet: the start is symmetric
            return 0.5
        p = state.player
        if state.is_chance_node():  # gnubg evaluates the position before the roll directly
            return float(on_roll_probabilities(state.board[p], state.board[1 - p])[0])
        probs = self.move_probs(state)
        return float(probs[int(np.argmax(equity(probs))), 0])
