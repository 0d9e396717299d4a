"""Matches between agents: single games, step-by-step play for a view, and evaluation with a 95% interval."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.rl.agents.base import Agent
from engine.rl.control import CancelToken
from engine.rl.game import Game, State


@dataclass
class Move:
    """One event of a game, for a view replaying it: who moved (-1 chance), what, and the position after."""

    player: int
    action: int
    text: str
    state: State
    values: dict[int, float] = field(default_factory=dict)


def play_steps(game: Game, agents: tuple[Agent, Agent], rng: random.Random,
               with_values: bool = False) -> Iterator[Move]:
    """Yield every move of one game; ``agents[0]`` plays player 0. Values per legal move if asked."""
    state = game.new_initial_state()
    while not state.is_terminal():
        if state.is_chance_node():
            outcomes = state.chance_outcomes()
            r, acc, pick = rng.random(), 0.0, outcomes[-1][0]
            for o, p in outcomes:
                acc += p
                if r < acc:
                    pick = o
                    break
            text = state.action_to_string(pick)
            state.apply_action(pick)
            yield Move(-1, pick, text, state.clone())
            continue
        p = state.current_player()
        values = agents[p].action_values(state) if with_values else {}
        a = agents[p].step(state)
        text = state.action_to_string(a)
        state.apply_action(a)
        yield Move(p, a, text, state.clone(), values)


def play_game(game: Game, agents: tuple[Agent, Agent], rng: random.Random) -> State:
    """Play one game to the end and return the final state."""
    final = game.new_initial_state()
    for move in play_steps(game, agents, rng):
        final = move.state
    return final


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (draws count as half a success)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def evaluate(game: Game, a: Agent, b: Agent, games: int, seed: int = 0,
             token: CancelToken | None = None) -> dict[str, Any]:
    """Play ``games`` games, ``a`` as player 0 in the even ones and player 1 in the odd ones.

    ``a_score`` = (wins + draws / 2) / games with its 95% Wilson interval; ``a_points`` is the mean
    points per game for ``a`` (backgammon gammons count 2, backgammons 3) with ``a_points_ci95`` = mean
    +- 1.96 sd / sqrt(n); ``a_gammons`` / ``a_backgammons`` count the games ``a`` won with 2 / 3 points,
    ``b_gammons`` / ``b_backgammons`` those it lost so.
    """
    rng = random.Random(seed)
    a.seed(seed * 7919 + 1)
    b.seed(seed * 7919 + 2)
    wins = draws = losses = 0
    points = squares = 0.0
    by_points = {(side, k): 0 for side in "ab" for k in (2, 3)}
    for g in range(games):
        if token is not None:
            token.check()
        a_side = g % 2
        agents = (a, b) if a_side == 0 else (b, a)
        final = play_game(game, agents, rng)
        r = final.returns()[a_side]
        points += r
        squares += r * r
        if abs(r) in (2, 3):
            by_points["a" if r > 0 else "b", int(abs(r))] += 1
        if r > 0:
            wins += 1
        elif r < 0:
            losses += 1
        else:
            draws += 1
    n = max(games, 1)
    lo, hi = wilson_interval(wins + 0.5 * draws, games)
    mean = points / n
    var = max(squares - n * mean * mean, 0.0) / max(n - 1, 1)  # sample variance of the points
    half = 1.96 * math.sqrt(var / n)
    return {"game": game.name, "a": a.describe(), "b": b.describe(), "games": games, "a_wins": wins,
            "draws": draws, "b_wins": losses, "a_score": (wins + 0.5 * draws) / n,
            "a_score_ci95": [round(lo, 4), round(hi, 4)], "a_points": mean,
            "a_points_ci95": [round(mean - half, 4), round(mean + half, 4)],
            "a_gammons": by_points["a", 2], "a_backgammons": by_points["a", 3],
            "b_gammons": by_points["b", 2], "b_backgammons": by_points["b", 3], "seed": seed}
