"""Playing against agents, headless: make agents, analyse a position, pick the agent's move.

The Arena view runs these in its engine thread with copies of its game state, and only these functions
ever touch an agent, so agents live in the engine thread alone. Each returns a plain dict; a bad agent
name or a damaged agent file comes back as ``{"ok": False, "error": ...}``.
"""

from __future__ import annotations

import os
from typing import Any

from engine.errors import UserError
from engine.rl.agents.base import Agent
from engine.rl.analysis import Analysis, analyse, choose, has_win_estimate, win_probability_for
from engine.rl.game import State
from engine.rl.registry import make_agent


class AgentPool:
    """Agents by (game, spec, slot), made once; a saved agent is reloaded when its file changes."""

    def __init__(self) -> None:
        self._agents: dict[tuple[str, str, str, float], Agent] = {}

    def get(self, game: str, spec: str, slot: str = "play") -> Agent:
        spec = spec.strip()
        try:
            stamp = os.path.getmtime(spec) if spec and os.path.exists(spec) else 0.0
        except OSError:
            stamp = 0.0
        key = (game, spec, slot, stamp)
        if key not in self._agents:
            self._agents = {k: v for k, v in self._agents.items() if k[:3] != key[:3]}
            self._agents[key] = make_agent(spec, game)
        return self._agents[key]


def load(pool: AgentPool, game: str, spec: str, slot: str = "play") -> dict[str, Any]:
    """Make (or find) the agent; what it is, or the error."""
    try:
        agent = pool.get(game, spec, slot)
    except UserError as e:
        return {"ok": False, "error": str(e), "spec": spec}
    return {"ok": True, "agent": agent.describe(), "spec": spec}


def _estimate(pool: AgentPool, game: str, agent: Agent, state: State, player: int,
              analysis: Analysis | None, chosen: int | None = None) -> float | None:
    """P(``player`` wins): the agent's own estimate, else its chosen move's value, else the shipped agent's."""
    p = None
    if analysis is not None and chosen is not None and analysis.bounded and chosen in analysis.values and (
            analysis.visits or not has_win_estimate(agent)):
        # search agents: the searched value of the move played, not the raw network (one estimator per curve)
        p_mover = (analysis.values[chosen] + 1) / 2
        p = p_mover if analysis.player == player else 1 - p_mover
    if p is None:
        p = win_probability_for(agent, state, player, analysis)
    if p is None:
        try:
            judge = pool.get(game, "default", "judge")
        except UserError:
            return None
        p = win_probability_for(judge, state, player)
    return p


def think(pool: AgentPool, game: str, spec: str, state: State, judge_player: int, slot: str = "play",
          move: bool = True, top: int = 9) -> dict[str, Any]:
    """The agent's values for the mover's legal moves and, if ``move``, the move it plays.

    ``wp_before`` / ``wp_after``: P(``judge_player`` wins) before and after that move.
    """
    try:
        agent = pool.get(game, spec, slot)
        result = analyse(agent, state)
        out: dict[str, Any] = {
            "ok": True, "agent": agent.describe(), "player": result.player, "values": result.values,
            "visits": result.visits, "bounded": result.bounded, "value_kind": result.value_kind,
            "details": result.details,
            "best": result.best(), "top": result.top(state, top), "legal": len(state.legal_actions()),
            "wp_before": _estimate(pool, game, agent, state, judge_player, result)}
        if move:
            a = choose(agent, state, result)
            out["choice"] = a
            out["text"] = state.action_to_string(a)
            turns = getattr(state, "legal_turns", None)
            out["steps"] = turns()[a][0] if turns is not None else ()
            after = state.clone()
            after.apply_action(a)
            out["wp_after"] = _estimate(pool, game, agent, after, judge_player, result, chosen=a)
        return out
    except UserError as e:
        return {"ok": False, "error": str(e), "spec": spec}
