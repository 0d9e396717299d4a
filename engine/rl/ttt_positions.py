"""Every tic-tac-toe position with a tabular agent's Q values beside the exact minimax values.

The seed's tabular Q-learning keeps one number per (position, move); a number that was never updated
still holds its initial value 0, which a greedy player cannot tell from a learned draw. This module
walks the whole game tree (5,478 distinct positions, 958 of them finished), and for each position
lists every legal move's minimax value (engine.rl.agents.search.ttt_value), the agent's Q and how often
that Q was updated, and flags

- **never updated**: entries whose update count is 0 (only when the agent saved its counts);
- **flawed**: the moves of highest Q (within 1e-9, as ``Agent._argmax`` compares) include one whose
  minimax value is worse than the position's: the table cannot tell a losing move from a drawing one
  (or a drawing one from a winning one) there;
- **can throw**: the moves the agent really plays (``TabularAgent.choices``: the highest Q, ties broken
  toward the most updated entry) include such a move, so the agent may throw a win or a draw there. A
  flawed position that cannot throw is one where the update counts break the tie the right way;
- **stale**: besides, each entry's one-step Q-learning target from the current table, r - gamma max_b
  Q(s', b), shows where a Q was last updated before its successor's value was learned (the two flaws of
  the shipped agent are such: a losing move updated a few times while the opponent's winning reply still
  held its initial 0, and rarely visited since);
- **on the agent's path**: the position can be reached, with the agent to move, when the agent plays
  that side greedily from the empty board and the opponent plays anything. A position off the path is
  reached only after a third party made the agent's side's moves (a hint followed, a position set up by
  hand, another agent playing the first moves).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engine.errors import UserError
from engine.rl.agents.search import ttt_value
from engine.rl.agents.tabular import TabularAgent
from engine.rl.tictactoe import LINES, MARKS, TicTacToeState

TIE = 1e-9  # the tolerance of Agent._argmax: moves this close to the best Q are all "greedy"
VALUE_NAMES = {1.0: "win", 0.0: "draw", -1.0: "loss"}


@dataclass(frozen=True)
class MoveInfo:
    """One legal move of a position: its exact value, the agent's Q and the Q's update count."""

    action: int
    minimax: float  # -1 / 0 / +1 for the player to move, with perfect play after it
    q: float
    count: int | None  # None: the agent did not record counts
    top: bool  # within 1e-9 of the highest Q of the position
    greedy: bool  # a move the agent plays (TabularAgent.choices: top, and most updated among the top)
    target: float  # the one-step Q-learning target from the current table: r - gamma max_b Q(s', b)

    @property
    def residual(self) -> float:
        """How far Q is from its target now (large: Q was last updated on an outdated successor value)."""
        return self.target - self.q

    @property
    def never_updated(self) -> bool:
        return self.count == 0

    def to_dict(self) -> dict[str, Any]:
        return {"move": self.action + 1, "minimax": self.minimax, "q": self.q, "updates": self.count,
                "top": self.top, "greedy": self.greedy, "target": self.target}


@dataclass
class Position:
    key: str  # the board as 9 characters . X O
    depth: int  # marks on the board
    mover: int  # 0 X, 1 O, -1 for a finished game
    value: float  # minimax value for the player to move (a finished game: -1 lost by the mover, 0 drawn)
    moves: tuple[MoveInfo, ...]
    in_table: bool  # the agent's table has a row for it
    path: tuple[int, ...]  # one sequence of cells (0..8) from the empty board to it
    reachable_as: set[int] = field(default_factory=set)  # the sides the agent can play greedily to get here

    @property
    def terminal(self) -> bool:
        return self.mover < 0

    @property
    def on_path(self) -> bool:
        """The agent, playing the side to move greedily from the start, can face this position."""
        return self.mover in self.reachable_as

    @property
    def best_q(self) -> float | None:
        return max((m.q for m in self.moves), default=None)

    @property
    def never_updated(self) -> list[int]:
        return [m.action for m in self.moves if m.never_updated]

    @property
    def value_lost(self) -> float:
        """How much the worst move the agent plays loses against perfect play (0: all it plays is optimal)."""
        greedy = [m.minimax for m in self.moves if m.greedy]
        return self.value - min(greedy) if greedy else 0.0

    @property
    def can_throw(self) -> bool:
        return self.value_lost > 0

    @property
    def tie_lost(self) -> float:
        """How much the worst move of highest Q loses against perfect play, whichever way ties are broken."""
        top = [m.minimax for m in self.moves if m.top]
        return self.value - min(top) if top else 0.0

    @property
    def flawed(self) -> bool:
        """The table's highest Q includes a move worse than the best (the agent may or may not play it)."""
        return self.tie_lost > 0

    def board(self) -> str:
        return "\n".join(" ".join(self.key[r * 3:r * 3 + 3]) for r in range(3))

    def to_dict(self) -> dict[str, Any]:
        return {"board": self.key, "depth": self.depth, "to_move": "XO"[self.mover] if self.mover >= 0 else None,
                "value": self.value, "moves_from_start": [a + 1 for a in self.path], "in_table": self.in_table,
                "on_agent_path": self.on_path, "reachable_as": sorted("XO"[p] for p in self.reachable_as),
                "flawed": self.flawed, "can_throw": self.can_throw, "value_lost": self.value_lost,
                "never_updated": [a + 1 for a in self.never_updated], "moves": [m.to_dict() for m in self.moves]}


def state_of(key: str) -> TicTacToeState:
    if len(key) != 9 or set(key) - set(MARKS):
        raise UserError(f"{key[:20]!r} is not a tic-tac-toe board of 9 cells {', '.join(MARKS)}")
    return TicTacToeState([MARKS.index(c) for c in key])


def _won(key: str) -> bool:
    return any(key[i] != "." and key[i] == key[j] == key[k] for i, j, k in LINES)


def _finished(key: str) -> bool:
    return "." not in key or _won(key)


def _mover(key: str) -> int:
    """0 (X) or 1 (O) to move, -1 when the game is over."""
    return -1 if _finished(key) else int(key.count("X") > key.count("O"))


def _kids(key: str) -> list[tuple[int, str]]:
    if _finished(key):
        return []
    mark = "XO"[_mover(key)]
    return [(i, key[:i] + mark + key[i + 1:]) for i, c in enumerate(key) if c == "."]


def children(key: str) -> list[tuple[int, str]]:
    """(cell, position after playing it) for every legal move of ``key`` (none when the game is over)."""
    state_of(key)  # a clear error for a malformed key
    return _kids(key)


class PositionTable:
    """All positions of tic-tac-toe with one tabular agent's view of them (built in a fraction of a second)."""

    def __init__(self, agent: TabularAgent) -> None:
        if not isinstance(agent, TabularAgent):
            raise UserError("Only a tabular (Q-learning or SARSA) tic-tac-toe agent has a table of positions.")
        self.agent = agent
        self.counts_known = agent.counts is not None
        # the tree as keys first: breadth first, so each position keeps a shortest path from the start
        self.kids: dict[str, list[tuple[int, str]]] = {}
        paths: dict[str, tuple[int, ...]] = {"." * 9: ()}
        queue = deque(paths)
        while queue:
            key = queue.popleft()
            self.kids[key] = _kids(key)
            for a, k in self.kids[key]:
                if k not in paths:
                    paths[k] = (*paths[key], a)
                    queue.append(k)
        # exact values: ttt_value's negamax, one call per position (memoised by board)
        value = {k: ttt_value(state_of(k)) + 0.0 for k in paths}
        self.positions: dict[str, Position] = {
            k: Position(k, 9 - k.count("."), _mover(k), value[k], self._moves(k, value), k in agent.q, path)
            for k, path in paths.items()}
        self._flawed_leads: set[str] | None = None
        for side in (0, 1):
            self._mark_reachable(side)

    def _moves(self, key: str, value: dict[str, float]) -> tuple[MoveInfo, ...]:
        kids = self.kids[key]
        if not kids:
            return ()
        row = self.agent.q.get(key, [0.0] * 9)
        counts = self.agent.update_counts(key)
        best = max(row[a] for a, _k in kids)
        plays = self.agent.choices(state_of(key))
        return tuple(MoveInfo(a, -value[k] + 0.0, row[a] + 0.0, None if counts is None else counts[a],
                              row[a] >= best - TIE, a in plays, self._target(k)) for a, k in kids)

    def _target(self, child: str) -> float:
        """r - gamma max_b Q(child, b) with the table as it is (the mover's reward: +1 for a win, 0 a draw)."""
        kids = self.kids[child]
        if not kids:  # the move ended the game: the mover won or drew
            return 1.0 if _won(child) else 0.0
        row = self.agent.q.get(child, [0.0] * 9)
        return -self.agent.gamma * max(row[b] for b, _k in kids) + 0.0  # no -0.0

    def _mark_reachable(self, side: int) -> None:
        """Positions the agent can face playing ``side`` greedily (any greedy tie) against any opponent."""
        todo = [TicTacToeState().key()]
        seen = set(todo)
        while todo:
            p = self.positions[todo.pop()]
            p.reachable_as.add(side)
            allowed = {m.action for m in p.moves if p.mover != side or m.greedy}
            for a, k in self.kids[p.key]:
                if a in allowed and k not in seen:
                    seen.add(k)
                    todo.append(k)

    def __getitem__(self, key: str) -> Position:
        p = self.positions.get(key)
        if p is None:
            raise UserError(f"{key[:20]!r} is not a reachable tic-tac-toe position.")
        return p

    def __len__(self) -> int:
        return len(self.positions)

    def flawed(self) -> list[Position]:
        """Positions whose highest Q includes a move that loses value: those where the agent can throw it
        first, then the agent's own path first, then by depth."""
        return sorted((p for p in self.positions.values() if p.flawed),
                      key=lambda p: (not p.can_throw, not p.on_path, p.depth, p.key))

    def leading_to(self, targets: set[str]) -> set[str]:
        """The positions from which some sequence of legal moves reaches one of ``targets`` (them included):
        what a game-tree browser filtered to ``targets`` keeps."""
        memo: dict[str, bool] = {}

        def leads(key: str) -> bool:
            hit = memo.get(key)
            if hit is None:
                hit = memo[key] = key in targets or any(leads(k) for _a, k in self.kids[key])
            return hit

        return {k for k in self.positions if leads(k)}

    def leading_to_flawed(self) -> set[str]:
        """:meth:`leading_to` the flawed positions (kept once worked out)."""
        if self._flawed_leads is None:
            self._flawed_leads = self.leading_to({p.key for p in self.flawed()})
        return self._flawed_leads

    def summary(self) -> dict[str, Any]:
        live = [p for p in self.positions.values() if not p.terminal]
        entries = [m for p in live for m in p.moves]
        flawed = self.flawed()
        known = self.counts_known
        return {
            "agent": self.agent.describe(),
            "positions": len(self.positions),
            "terminal": len(self.positions) - len(live),
            "non_terminal": len(live),
            "in_table": sum(p.in_table for p in live),
            "on_agent_path": sum(p.on_path for p in live),
            "entries": len(entries),
            "counts_known": known,
            "updated_entries": sum(m.count > 0 for m in entries if m.count is not None) if known else None,
            "never_updated_entries": sum(m.never_updated for m in entries) if known else None,
            "positions_with_never_updated": sum(bool(p.never_updated) for p in live) if known else None,
            "top_never_updated": sum(m.never_updated and m.top for m in entries) if known else None,
            "flawed": len(flawed),
            "flawed_on_path": sum(p.on_path for p in flawed),
            "flawed_off_path": sum(not p.on_path for p in flawed),
            "can_throw": sum(p.can_throw for p in flawed),
            "can_throw_on_path": sum(p.can_throw and p.on_path for p in flawed),
        }


def value_name(v: float) -> str:
    return VALUE_NAMES.get(v, f"{v:+.2f}")


def describe_position(p: Position) -> str:
    """A position as text: the board in 3 lines, then each legal move's minimax, Q and update count."""
    rows = p.board().splitlines()
    if p.terminal:
        head = "game over"
    else:
        where = "on the agent's path" if p.on_path else "reachable only after a third party's moves"
        head = f"{'XO'[p.mover]} to move, {value_name(p.value)} with perfect play; {where}"
    info = [head, f"depth {p.depth}, reached by {' '.join(str(a + 1) for a in p.path) or '(start)'}", ""]
    lines = [f"{r}    {t}".rstrip() for r, t in zip(rows, info, strict=True)]
    if p.moves:
        lines.append("  move  minimax        Q  updates   target")
        for m in p.moves:
            n = "?" if m.count is None else f"{m.count:,}"
            marks = (["top Q"] if m.top else []) + (["plays"] if m.greedy else [])
            marks += ["never updated"] if m.never_updated else []
            if m.top and m.minimax < p.value:
                lost = value_name(p.value)
                marks.append(f"throws a {lost}" if m.greedy else f"would throw a {lost}; not played (fewer updates)")
            lines.append(f"  {m.action + 1:>4}  {value_name(m.minimax):>7}  {m.q:+7.3f}  {n:>7}  {m.target:+7.3f}  "
                         f"{', '.join(marks)}".rstrip())
    return "\n".join(lines)


def describe_summary(s: dict[str, Any]) -> str:
    out = [f"{s['agent']}: {s['positions']:,} positions ({s['non_terminal']:,} with a move to make, "
           f"{s['terminal']:,} finished); {s['in_table']:,} in the table, {s['on_agent_path']:,} on the agent's "
           "own path"]
    if s["counts_known"]:
        out.append(f"{s['entries']:,} (position, move) entries: {s['updated_entries']:,} updated, "
                   f"{s['never_updated_entries']:,} never updated (in {s['positions_with_never_updated']:,} "
                   f"positions; {s['top_never_updated']:,} of them among the moves of highest Q)")
    else:
        out.append(f"{s['entries']:,} (position, move) entries; update counts unknown (the agent was saved "
                   "without them)")
    out.append(f"{s['flawed']} flawed positions, where the highest Q includes a move that throws a win or a draw: "
               f"{s['flawed_on_path']} on the agent's path, {s['flawed_off_path']} reachable only after a third "
               f"party's moves; the agent can throw there in {s['can_throw']} ({s['can_throw_on_path']} on its "
               "path), the update counts break the other ties")
    return "\n".join(out)
