"""The search inspector's engine: a tree search stepped one simulation at a time, and bounded snapshots of it.

Monte Carlo tree search repeats four phases per simulation (Browne et al. 2012, "A survey of MCTS methods"):
**select** a path from the root by a score (UCT: W/N + c sqrt(ln N_parent / N), Kocsis & Szepesvari 2006;
PUCT: Q + c P sqrt(N_parent + 1) / (1 + N), Silver et al. 2017), **expand** the tree at its end,
**evaluate** the leaf (a random playout, the network's value, or the exact result of a finished game) and
**back up** the result along the path. The agents' own loops (``MCTSAgent.simulations``,
``AlphaZeroAgent.simulations``) are generators of simulations; ``search()`` runs them untraced and
:class:`SearchSession` runs the same generators, traced when stepping, so what the inspector shows is the
agent's search itself (same seed, same visits).

No Qt here: the Arena's Search page and ``txe rl search`` both use this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from engine.errors import UserError
from engine.tasks import Cancelled, CancelToken

MAX_NODES = 200  # nodes in one snapshot: what a drawing (or a 20 Hz message) can hold
MAX_INSPECT_SIMS = 100_000
CHUNK = 16  # simulations between two looks at the cancel flag and the clock (~1-2 ms)
PHASES = ("select", "expand", "evaluate", "back up")


@dataclass(frozen=True, slots=True)
class SimStep:
    """What one simulation did.

    ``path``: the actions from the root to the leaf it evaluated; the first ``selected`` of them were chosen
    by the selection score, the rest (UCT: one) by expansion. ``expanded``: the leaf is new to the tree
    (UCT) or just got its children (PUCT). ``kind``: how the leaf was valued, "playout" (a random game),
    "network" (the value head), "terminal" (the game is over there) or "solver" (the player to move wins
    at once). ``value``: that evaluation for the player who moved into the leaf, in [-1, 1]. ``backup``:
    what each node on the path (root first) received, for the player who moved into it. ``winner``: the
    playout's winner (UCT; None for a draw or PUCT)."""

    path: tuple[int, ...]
    selected: int
    expanded: bool
    kind: str
    value: float
    backup: tuple[float, ...]
    winner: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"path": list(self.path), "selected": self.selected, "expanded": self.expanded, "kind": self.kind,
                "value": self.value, "backup": list(self.backup), "winner": self.winner}


def is_tree_agent(agent: Any) -> bool:
    """True for the agents whose search the inspector can follow (UCT MCTS and PUCT self-play)."""
    return hasattr(agent, "simulations") and hasattr(agent, "new_root") and hasattr(agent, "kind")


def node_q(kind: str, node: Any) -> float | None:
    """Mean value for the player who moved into ``node``, in [-1, 1] (UCT keeps wins in [0, 1]: 2 W/N - 1)."""
    if not node.n:
        return None
    return 2 * node.w / node.n - 1 if kind == "uct" else node.w / node.n


class SearchSession:
    """One search of ``agent`` from ``state``, advanced by simulations; touched by one thread at a time."""

    def __init__(self, agent: Any, state: Any) -> None:
        if not is_tree_agent(agent):
            raise UserError(f"{agent.describe()} does not search a tree; the inspector follows mcts:N (UCT) and "
                            "self-play (PUCT) agents.")
        if state.is_terminal():
            raise UserError("The game is over in that position: there is no move to search.")
        self.agent, self.state = agent, state.clone()
        self.kind: str = agent.kind
        self.root = agent.new_root(self.state)
        self._plain = agent.simulations(self.root, self.state, trace=False)
        self._traced = agent.simulations(self.root, self.state, trace=True)  # same root: interleaving is fine

    @property
    def sims(self) -> int:
        return self.root.n

    def step(self) -> SimStep:
        """One simulation, traced."""
        return next(self._traced)

    def advance(self, n: int, token: CancelToken | None = None, report: Callable[[dict[str, Any]], None] | None = None,
                every: float = 0.05, **snap: Any) -> int:
        """Run ``n`` more simulations untraced; every ``every`` s hand ``report`` a snapshot (the Search page asks
        every 0.1 s). Raises Cancelled when ``token`` is cancelled (what was done stays in the tree)."""
        done, last = 0, time.perf_counter()
        while done < n:
            k = min(CHUNK, n - done)
            for _ in islice(self._plain, k):
                pass
            done += k
            if token is not None:
                if token.cancelled:
                    raise Cancelled()
                time.sleep(0)  # hand the GIL to a waiting GUI thread now, not after the 5 ms switch interval
            if report is not None and time.perf_counter() - last >= every:
                report(self.snapshot(**snap))
                last = time.perf_counter()
        return done

    def visits(self) -> dict[int, int]:
        return {a: ch.n for a, ch in self.root.children.items()}

    def choice(self) -> int | None:
        """The move the agent would play now: the most visited (ties: the lowest action)."""
        v = self.visits()
        return max(sorted(v), key=v.__getitem__) if v and self.sims else None

    def position(self, path: Iterable[int]) -> Any:
        """The board at the node reached by ``path`` (actions from the root)."""
        s = self.state.clone()
        for a in path:
            s.apply_action(a)
        return s

    def score(self, parent: Any, child: Any) -> float:
        return float(self.agent.score(parent.n, child))

    def snapshot(self, top_k: int = 3, depth: int = 3, max_nodes: int = MAX_NODES,
                 include: Iterable[int] = ()) -> dict[str, Any]:
        """The root, all its children, and below them the ``top_k`` most visited children of each node to
        ``depth`` moves (at most ``max_nodes``), plus the nodes on the path ``include``. Each node: its
        action path, move label, parent index, N, W, Q, P (PUCT), selection score, mover, children count."""
        max_nodes = max(1, min(max_nodes, MAX_NODES))
        must = list(include)
        nodes: list[dict[str, Any]] = []
        labels = self.state.clone()

        def record(nd: Any, path: tuple[int, ...], parent: int, parent_nd: Any) -> int:
            s = self.position(path[:-1]) if path else labels
            nodes.append({
                "path": list(path), "move": s.action_to_string(path[-1]) if path else "root", "parent": parent,
                "depth": len(path), "n": nd.n, "w": nd.w, "q": node_q(self.kind, nd),
                "p": getattr(nd, "prior", None) if path and self.kind == "puct" else None,
                "score": None if parent_nd is None or (self.kind == "uct" and not nd.n) else
                self.score(parent_nd, nd),
                "mover": (self.state.current_player() + len(path) + 1) % 2, "children": len(nd.children)})
            return len(nodes) - 1

        frontier = [(self.root, (), record(self.root, (), -1, None))]
        for d in range(depth):
            nxt = []
            for nd, path, idx in frontier:
                kids = sorted(nd.children.items(), key=lambda kv: (-kv[1].n, kv[0]))
                if d > 0:
                    kids = [kv for kv in kids if kv[1].n][:top_k]
                for a, ch in kids:
                    if len(nodes) >= max_nodes:
                        break
                    cp = (*path, a)
                    nxt.append((ch, cp, record(ch, cp, idx, nd)))
            frontier = nxt
        # the included path (a stepped simulation's) is always drawn, even past the depth or size bound
        have = {tuple(n["path"]): i for i, n in enumerate(nodes)}
        nd, path = self.root, ()
        for a in must:
            if a not in nd.children:
                break
            parent, parent_i = nd, have[path]
            nd, path = nd.children[a], (*path, a)
            if path not in have:
                have[path] = record(nd, path, parent_i, parent)
        return {"game": self.state.game_name, "agent": self.agent.describe(), "kind": self.kind,
                "sims": self.sims, "player": self.state.current_player(),
                "c": self.agent.c if self.kind == "uct" else self.agent.c_puct,
                "choice": self.choice(), "nodes": nodes}


def root_rows(snap: dict[str, Any]) -> list[dict[str, Any]]:
    """The root's children of a snapshot, most visited first."""
    return [n for n in snap["nodes"] if n["depth"] == 1]


def describe_step(step: SimStep, phase: str, labels: list[str]) -> str:
    """One line that explains ``phase`` of a stepped simulation (``labels``: the path's moves as the user reads
    them)."""
    sel = " > ".join(labels[: step.selected])
    if phase == "select":
        if not sel:
            return "Select: the root still has untried moves, so selection stops there."
        return f"Select: from the root, follow the highest score at each node: {sel}."
    if phase == "expand":
        if not step.expanded:
            return "Expand: nothing to add; the leaf is a finished game (or the solver saw a win)."
        if step.selected < len(step.path):
            return f"Expand: add the new node {labels[-1]} (an untried move) below {sel or 'the root'}."
        return f"Expand: the network gives the leaf {labels[-1] if labels else 'root'} priors P for its moves."
    if phase == "evaluate":
        how = {"playout": "a random playout to the end", "network": "the network's value v",
               "terminal": "the finished game's result", "solver": "the solver (the player to move wins at once)"}
        return (f"Evaluate: {how[step.kind]} gives {step.value:+.2f} for the player who moved into the leaf"
                + (f" (playout won by {'XO'[step.winner]})" if step.winner is not None else "") + ".")
    shown = [f"{v:+.0f}" if v in (-1.0, 0.0, 1.0) else f"{v:+.2f}" for v in step.backup[:6]]
    more = f", \u2026 {len(step.backup) - 6} more" if len(step.backup) > 6 else ""
    return (f"Back up: each node on the path adds the value for its mover, the sign flipping at each move (root "
            f"first: {', '.join(shown)}{more}); N grows by 1.")
