"""What an agent thinks of a position, for the Arena view and ``txe rl analyse``.

:func:`analyse` asks an agent for the value of every legal move of the player to move, in the agent's
own terms: Q(s, a) for the tabular learners (seed: Q-learning / SARSA on tic-tac-toe), the afterstate
value 2 O(s') - 1 of TD(lambda) (seed: TD-Gammon), the minimax value for perfect play, the mean
backed-up value and visit count N(s, a) for UCT and PUCT search (seed: AlphaGo), pubeval's linear score.
A backgammon agent with GNU Backgammon's five outputs (a 5-output TD network, gnubg) values a move by its
cubeless equity and also gives each move's five probabilities (``details``).
:func:`choose` then picks the move the agent plays from that same analysis (search runs once), and
:func:`win_probability_for` turns an agent's estimate into P(player wins) for a curve over the game.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.rl.agents.base import Agent
from engine.rl.game import State

VALUE_KINDS = {
    "tabular": "Q(s, a)",
    "td": "afterstate value 2O(s')-1",
    "perfect": "minimax value",
    "mcts": "UCT mean value (N = visits)",
    "selfplay": "PUCT mean value Q (N = visits)",
    "alphabeta": "alpha-beta score, tanh-scaled",
    "pubeval": "pubeval score (linear, unbounded)",
    "gnubg": "gnubg 0-ply cubeless equity",
}
EQUITY_KIND = "cubeless equity (points; gammons count 2, backgammons 3)"
BOUNDED = {"tabular", "td", "perfect", "mcts", "selfplay", "alphabeta", "gnubg"}  # in [-1, 1] (equity: mostly)


@dataclass
class Analysis:
    """One agent's view of one position: values (and visits) of the mover's legal moves."""

    player: int
    agent: str
    values: dict[int, float] = field(default_factory=dict)
    visits: dict[int, int] = field(default_factory=dict)
    value_kind: str = ""
    bounded: bool = True  # values lie in [-1, 1] (-1 loss, 0 draw, +1 win for the mover)
    raw: dict[int, float] = field(default_factory=dict)  # the search's own scores, when they order moves
    # per move: win, win_gammon, win_backgammon, lose_gammon, lose_backgammon, equity (5-output agents)
    details: dict[int, dict[str, float]] = field(default_factory=dict)

    def ranked(self) -> list[int]:
        """Legal moves, best first (by visits for search agents, else by value)."""
        if self.visits:
            return sorted(self.visits, key=lambda a: (-self.visits[a], -self.values.get(a, 0.0)))
        key = self.raw or self.values
        return sorted(key, key=lambda a: -key[a])

    def best(self) -> int | None:
        order = self.ranked()
        return order[0] if order else None

    def mover_win_probability(self) -> float | None:
        """P(mover wins) implied by the best move's value, for bounded values only."""
        best = self.best()
        if best is None or not self.bounded or best not in self.values:
            return None
        if best in self.details:  # the values are equities; the probability is given
            return self.details[best]["win"]
        return (self.values[best] + 1) / 2

    def top(self, state: State, k: int) -> list[dict[str, Any]]:
        """The ``k`` best moves as plain dicts (move text, value, visits), for a list or JSON."""
        out = []
        for a in self.ranked()[:k]:
            row: dict[str, Any] = {"action": a, "move": state.action_to_string(a), "value": self.values.get(a)}
            if self.visits:
                row["visits"] = self.visits.get(a, 0)
            if a in self.details:
                row["probs"] = dict(self.details[a])
            out.append(row)
        return out


def _search_agent(agent: Agent) -> bool:
    return hasattr(agent, "search") and hasattr(agent, "last_visits")


def analyse(agent: Agent, state: State) -> Analysis:
    """Values of every legal move of the player to move, as ``agent`` sees them (search runs once)."""
    from engine.rl.agents.search import AlphaBetaConnectFour

    result = Analysis(state.current_player(), agent.describe(), value_kind=VALUE_KINDS.get(agent.name, ""),
                      bounded=agent.name in BOUNDED)
    if state.is_terminal() or state.is_chance_node():
        return result
    if _search_agent(agent):
        result.visits = dict(agent.search(state))  # type: ignore[attr-defined]
        result.values = {a: float(v) for a, v in agent.last_values.items()}  # type: ignore[attr-defined]
    elif isinstance(agent, AlphaBetaConnectFour):
        result.raw = agent.raw_values(state)
        result.values = agent.scaled(result.raw)
    elif getattr(agent, "outputs", 1) == 5 and hasattr(agent, "move_details"):  # one search for both
        result.values, result.details = agent.move_details(state)  # type: ignore[attr-defined]
        result.value_kind = VALUE_KINDS["gnubg"] if agent.name == "gnubg" else EQUITY_KIND
    else:
        result.values = {a: float(v) for a, v in agent.action_values(state).items()}
    return result


def choose(agent: Agent, state: State, analysis: Analysis) -> int:
    """The move ``agent`` plays, taken from ``analysis`` when it ranks the moves (ties at random)."""
    legal = state.legal_actions()
    if len(legal) == 1:
        return legal[0]
    if analysis.visits:
        top = max(analysis.visits.values())
        return agent.rng.choice([a for a in legal if analysis.visits.get(a) == top])
    choices = getattr(agent, "choices", None)
    if choices is not None:  # an agent that breaks its own ties (the tabular agent: by update counts)
        return agent.rng.choice(choices(state))
    key = analysis.raw or analysis.values
    if key:
        return agent._argmax({a: key[a] for a in legal if a in key})
    return agent.step(state)


def has_win_estimate(agent: Agent) -> bool:
    """Does the agent estimate win probabilities itself (not just rank moves)?"""
    return type(agent).win_probability is not Agent.win_probability


def mover_of(state: State) -> int:
    """The player whose turn it is, also at a chance node (backgammon: the player about to roll)."""
    p = state.current_player()
    return int(getattr(state, "player", 0)) if p < 0 else p


def win_probability_for(agent: Agent, state: State, player: int, analysis: Analysis | None = None) -> float | None:
    """P(``player`` wins) from ``state`` as ``agent`` estimates it (exact when the game is over).

    Search agents answer from ``analysis`` (the best move's mean value) rather than search again;
    agents without an estimate (random, pubeval) return None.
    """
    if state.is_terminal():
        w = state.winner()
        return 0.5 if w is None else float(w == player)
    if state.is_chance_node() and getattr(state, "first", False):
        return 0.5  # before backgammon's opening roll the game is symmetric
    if _search_agent(agent):
        if analysis is None or analysis.player != state.current_player():
            if agent.name != "selfplay":  # its network value is cheap; UCT would have to search again
                return None
            p = agent.win_probability(state)
        else:
            p = analysis.mover_win_probability()
    elif state.is_chance_node() and agent.name not in ("td", "gnubg"):
        return None
    else:
        p = agent.win_probability(state)
    if p is None:
        return None
    return p if mover_of(state) == player else 1.0 - p
