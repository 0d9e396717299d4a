"""The search tree of beam search, as the search itself records it (seed 001, Figure 10.10).

Node 0 is the prompt. Every other node is a candidate y_1..y_i: its parent's hypothesis plus one token,
with the token's log-probability, the cumulative log-probability (the sum Figure 10.10 keeps), the
normalised score cum / length^alpha, and what the search decided:

- ``kept``: one of the k hypotheses carried to the next step (expanded then, unless the search ended);
- ``finished``: the hypothesis ended (end-of-sequence, or the length limit) and entered the pool of
  finished hypotheses; ``end`` says why ("eos" or "length");
- ``pruned``: considered and dropped (outside the beam, or an ended hypothesis that did not make the
  pool). Each expansion also records its best rejected tokens as pruned nodes, so the view can show
  what the beam gave up and let the user force one.

Nodes never move; ``round`` counts the times the user forced a prefix (0 before any), so the view can
fade earlier rounds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

KEPT, PRUNED, FINISHED = "kept", "pruned", "finished"


@dataclass
class BeamNode:
    id: int
    parent: int | None
    token: str  # the token's text ("" for the root)
    token_id: int | None
    step: int  # generated tokens so far (its depth; 0 for the root)
    logprob: float  # log p(token | parent's hypothesis)
    cum_logprob: float  # sum of logprob from the root
    score: float  # cum_logprob / step^alpha
    status: str  # kept | pruned | finished
    rank: int  # the token's rank in its parent's next-token distribution (0 = the most probable)
    end: str | None = None  # "eos" | "length" when the hypothesis ended here
    round: int = 0
    forced: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class BeamTree:
    """All nodes in creation order (ids are list indices) with path and lookup helpers for the view."""

    def __init__(self) -> None:
        self.nodes: list[BeamNode] = []
        self.children: dict[int, list[int]] = {}

    def add(self, node: BeamNode) -> BeamNode:
        node.id = len(self.nodes)
        self.nodes.append(node)
        self.children.setdefault(node.id, [])
        if node.parent is not None:
            self.children[node.parent].append(node.id)
        return node

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, node_id: int) -> BeamNode:
        return self.nodes[node_id]

    def path(self, node_id: int) -> list[int]:
        """Node ids from the root to ``node_id``."""
        out = []
        cur: int | None = node_id
        while cur is not None:
            out.append(cur)
            cur = self.nodes[cur].parent
        return out[::-1]

    def token_ids(self, node_id: int) -> list[int]:
        """The generated token ids of a node's hypothesis."""
        return [self.nodes[i].token_id for i in self.path(node_id)[1:]]  # type: ignore[misc]

    def is_ancestor(self, ancestor: int, node_id: int) -> bool:
        cur: int | None = node_id
        while cur is not None:
            if cur == ancestor:
                return True
            cur = self.nodes[cur].parent
        return False

    def match(self, token_ids: list[int]) -> list[int]:
        """Nodes along a token path from the root, as far as the tree has them (the greedy overlay)."""
        out = [0]
        for tok in token_ids:
            nxt = next((c for c in self.children[out[-1]] if self.nodes[c].token_id == tok), None)
            if nxt is None:
                break
            out.append(nxt)
        return out

    def departure(self, token_ids: list[int], frontier: Iterable[int] = ()) -> dict | None:
        """Where a token path (greedy's) leaves the beam, or None if the beam kept all of it.

        ``{"step": s, "node": n, "reason": r}``: s is the first token of the path outside the beam. Reason
        "pruned": the path's node at step s is a pruned candidate (node n); "not expanded": the tree has the
        path up to step s - 1 (node n) but the search never extended that node (its hypothesis ended or
        the search stopped), so token s is not in the tree. ``frontier``: the live beam of a search still
        running; a path that reaches it has not left the beam (its next step is yet to come).
        """
        path = self.match(token_ids)
        for i in path[1:]:
            if self.nodes[i].status == PRUNED:
                return {"step": self.nodes[i].step, "node": i, "reason": "pruned"}
        if len(path) - 1 < len(token_ids) and path[-1] not in set(frontier):
            return {"step": len(path), "node": path[-1], "reason": "not expanded"}
        return None

    def at_step(self, step: int) -> list[int]:
        return [n.id for n in self.nodes if n.step == step]

    def to_list(self) -> list[dict]:
        return [n.to_dict() for n in self.nodes]

    def to_json(self) -> str:
        return json.dumps(self.to_list(), ensure_ascii=False)

    @classmethod
    def from_list(cls, raw: list[dict]) -> BeamTree:
        tree = cls()
        for item in raw:
            tree.add(BeamNode(**item))
        return tree
