"""Tabular Q-learning and SARSA for tic-tac-toe with the seed's rewards (r = +1 win, 0 draw, -1 loss).

One table serves both sides: Q(s, a) is the expected future reward of the player to move in ``s``.
The environment is the opponent (seed: "Environment: the opponent"), so the value of the next state
for me is minus its value for the opponent, and the seed's rules become

    Q-learning:  Q(s_t, a_t) += eta [r_{t+1} - gamma max_a Q(s_{t+1}, a) - Q(s_t, a_t)]
    SARSA:       Q(s_t, a_t) += eta [r_{t+1} - gamma Q(s_{t+1}, a_{t+1}) - Q(s_t, a_t)]

with a_{t+1} the move the epsilon-greedy policy really plays next (SARSA) or the best one (Q-learning),
and Q of a finished game taken as 0.

The agent also counts the updates of every Q(s, a) (``counts``, saved beside the table): an entry never
updated still holds its initial 0, which a greedy player cannot tell from a learned draw (see
engine.rl.ttt_positions). A table saved before counts existed loads with ``counts = None`` (unknown).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.rl.agents.base import Agent, save_json_agent
from engine.rl.game import State
from engine.rl.limits import MAX_TABLE_STATES
from engine.rl.tictactoe import MARKS, TicTacToeState
from engine.validate import choice, mapping, number_list, real, whole


class TabularAgent(Agent):
    name = "tabular"
    games = ("tictactoe",)

    def __init__(self, algo: str = "q", lr: float = 0.5, gamma: float = 0.9, seed: int | None = None) -> None:
        super().__init__(seed)
        if algo not in ("q", "sarsa"):
            raise UserError(f"Unknown tabular algorithm '{algo}'; use q or sarsa.")
        self.algo, self.lr, self.gamma = algo, lr, gamma
        self.q: dict[str, list[float]] = {}
        # updates of each Q(s, a); None when unknown (a table saved without them, trained further or not)
        self.counts: dict[str, list[int]] | None = {}
        self.games_trained = 0

    def describe(self) -> str:
        return f"{self.algo} ({len(self.q)} states, {self.games_trained} games)"

    def row(self, key: str) -> list[float]:
        r = self.q.get(key)
        if r is None:
            r = self.q[key] = [0.0] * 9
        return r

    def update_counts(self, key: str) -> list[int] | None:
        """How often each Q(key, a) was updated (nine zeros for an unseen position); None if unknown."""
        if self.counts is None:
            return None
        return self.counts.get(key, [0] * 9)

    def action_values(self, state: State) -> dict[int, float]:
        assert isinstance(state, TicTacToeState)
        r = self.q.get(state.key(), [0.0] * 9)
        return {a: r[a] for a in state.legal_actions()}

    def choices(self, state: State) -> list[int]:
        """The moves the agent plays from ``state``: the highest Q (within 1e-9, as ``Agent._argmax``), and
        among equal Qs the ones updated most often. Equal Qs are mostly 0s, and a 0 that is an initial value
        or was backed up from a successor still at its initial 0 looks like a learned draw; the estimate
        with more updates behind it is the better-founded one (with the shipped table this keeps the agent
        from throwing a draw in the two positions where a losing move's Q ties the drawing move's 0)."""
        values = self.action_values(state)
        best = max(values.values())
        tied = [a for a, v in values.items() if v >= best - 1e-9]
        counts = self.update_counts(state.key()) if isinstance(state, TicTacToeState) else None
        if counts is None or len(tied) == 1:
            return tied
        most = max(counts[a] for a in tied)
        return [a for a in tied if counts[a] == most]

    def step(self, state: State) -> int:
        return self.rng.choice(self.choices(state))

    def epsilon_greedy(self, state: TicTacToeState, epsilon: float) -> int:
        """Mainly greedy, but sometimes do something else (the seed's explore-versus-exploit). While learning,
        ties are broken uniformly: preferring the most updated move would only feed the moves tried first."""
        if self.rng.random() < epsilon:
            return self.rng.choice(state.legal_actions())
        return self._argmax(self.action_values(state))

    def win_probability(self, state: State) -> float | None:
        v = self.action_values(state)
        return (max(v.values()) + 1) / 2 if v else None

    def train_episode(self, epsilon: float) -> float:
        """One self-play game with both sides learning; returns the mean |TD error|."""
        s = TicTacToeState()
        a = self.epsilon_greedy(s, epsilon)
        errors = []
        while True:
            key = s.key()
            q = self.row(key)
            s.apply_action(a)
            if s.is_terminal():
                # the mover cannot lose on its own move: +1 for a win, 0 for a draw
                target, a_next = (1.0 if s.winner() is not None else 0.0), -1
            else:
                q_next = self.row(s.key())
                a_next = self.epsilon_greedy(s, epsilon)
                if self.algo == "q":
                    target = -self.gamma * max(q_next[b] for b in s.legal_actions())
                else:
                    target = -self.gamma * q_next[a_next]
            delta = target - q[a]
            q[a] += self.lr * delta
            if self.counts is not None:
                n = self.counts.get(key)
                if n is None:
                    n = self.counts[key] = [0] * 9
                n[a] += 1
            errors.append(abs(delta))
            if a_next < 0:
                break
            a = a_next
        self.games_trained += 1
        return sum(errors) / len(errors)

    def save(self, path: Path) -> None:
        payload: dict[str, Any] = {"hparams": {"lr": self.lr, "gamma": self.gamma},
                                   "games_trained": self.games_trained, "table": self.q}
        if self.counts is not None:
            payload["counts"] = self.counts
        save_json_agent(path, {"game": "tictactoe", "algo": self.algo}, payload)

    @classmethod
    def from_saved(cls, header: dict[str, Any]) -> TabularAgent:
        where = "the saved tic-tac-toe table"
        hp = mapping(header.get("hparams", {}), "hparams", where)
        agent = cls(choice(header.get("algo"), "algo", ("q", "sarsa"), where),
                    real(hp.get("lr", 0.5), "lr", 0.0, 10.0, where),
                    real(hp.get("gamma", 0.9), "gamma", 0.0, 1.0, where))
        table = mapping(header.get("table"), "table", where)
        if len(table) > MAX_TABLE_STATES:
            raise UserError(f"{where} has {len(table):,} positions; tic-tac-toe has fewer than {MAX_TABLE_STATES:,}")
        for key, row in table.items():
            if len(key) != 9 or set(key) - set(MARKS):
                raise UserError(f"{where} is damaged: {key[:20]!r} is not a board of 9 cells {', '.join(MARKS)}")
            number_list(row, f"the row of {key}", where)
            if len(row) != 9:
                raise UserError(f"{where} is damaged: rows must have 9 values")
            agent.q[key] = [float(x) for x in row]
        agent.games_trained = whole(header.get("games_trained", 0), "games_trained", 0, 10**15, where)
        agent.counts = None if "counts" not in header else _read_counts(header["counts"], agent.q, where)
        return agent


def _read_counts(raw: Any, table: dict[str, list[float]], where: str) -> dict[str, list[int]]:
    """The saved update counts: nine whole numbers per position of the table (none for other positions)."""
    counts = mapping(raw, "counts", where)
    out: dict[str, list[int]] = {}
    for key, row in counts.items():
        if key not in table:
            raise UserError(f"{where} is damaged: update counts for {key[:20]!r}, a position not in the table")
        if not isinstance(row, list) or len(row) != 9:
            raise UserError(f"{where} is damaged: the update counts of {key} must be 9 whole numbers")
        out[key] = [whole(n, f"an update count of {key}", 0, 10**15, where) for n in row]
    return out
