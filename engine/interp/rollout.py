"""How much of each input token reaches each position through the layers: attention rollout and attention
flow (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020).

Both see a layer as its heads' mean attention with the residual connection added (Eq. 11.15: u = x +
attention(x), so half of what a position carries is itself):

    A^(l) = 0.5 mean_h alpha^(l,h) + 0.5 I, each row normalised to sum 1   (alpha of seed 002 Eq. 11.13)

- **Rollout**: the product R^(l) = A^(l) A^(l-1) ... A^(1); row i of R^(L) says how input tokens mix into
  position i at the top. Rows sum to 1.
- **Flow**: the layered graph with a node per (layer boundary, position), an edge from position i above
  layer l to position j below it of capacity A^(l)_ij; flow_ij = the maximum flow from position i at the top
  to input token j at the bottom (each in [0, 1]; unlike rollout's, a row does not sum to 1: every token's
  flow is computed on its own). One max-flow problem per (i, j): T^2 of them on (L + 1) T nodes, so T is
  capped (:data:`MAX_FLOW_TOKENS`). Solved by scipy's maximum_flow (Dinic, in C; networkx's pure-Python max
  flow took 90 ms per problem here, 180x longer) on capacities scaled to integers (1e-6 resolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_flow

from engine.errors import UserError
from engine.tasks import CancelToken

MAX_FLOW_TOKENS = 64  # every position's flow: T^2 max-flow problems, 4,096 at most
# The work of the flow from n positions: n T problems on a graph of about L T^2 / 2 edges, so n L T^3 units;
# 30 ns a unit here (SmolLM2, one position over 128 tokens: 6.3e7 units, 1.7 s). This bound is about 15 s.
FLOW_BUDGET = 5e8
FLOW_SCALE = 1_000_000  # capacities as integers: 1e-6 of a unit
MAX_ROLLOUT_TOKENS = 1024  # (L, T, T) float64 kept: 30 layers x 1,024^2 x 8 B = 250 MB at most


def layer_matrices(attention: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """(L, H, T, T) attention -> (L, T, T): the heads' mean mixed with the identity, rows normalised."""
    return mixed_with_residual(np.asarray(attention, dtype=np.float64).mean(1), residual)


def mixed_with_residual(means: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Each layer's heads' mean (L, T, T) mixed with the identity, rows normalised: A^(l)."""
    a = (1 - residual) * means + residual * np.eye(means.shape[-1])
    return a / a.sum(-1, keepdims=True)


def rolled_out(mixed: np.ndarray) -> np.ndarray:
    """(L, T, T) layer matrices -> (L, T, T): entry [l] = A^(l) ... A^(0)."""
    out = np.empty_like(mixed)
    r = np.eye(mixed.shape[-1])
    for layer, m in enumerate(mixed):
        r = m @ r  # (T, T)
        out[layer] = r
    return out


def rollout(attention: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout after every layer: (L, T, T), entry [l] = A^(l) ... A^(0) (layers from 0)."""
    return rolled_out(layer_matrices(attention, residual))


def max_flow_tokens(layers: int, rows: int = 1, budget: float = FLOW_BUDGET) -> int:
    """The longest text whose flow from ``rows`` positions fits in ``budget`` (see FLOW_BUDGET)."""
    per = max(layers, 1) * max(rows, 1)
    t = round((budget / per) ** (1 / 3))
    while t > 2 and per * t**3 > budget:  # the float cube root may land a hair above or below
        t -= 1
    return max(2, t)


def flow(attention: np.ndarray, residual: float = 0.5, rows: list[int] | None = None,
         max_tokens: int = MAX_FLOW_TOKENS, mixed: np.ndarray | None = None, budget: float = FLOW_BUDGET,
         token: CancelToken | None = None) -> np.ndarray:
    """Attention flow through all layers: (len(rows), T), the max flow from each top position in ``rows``
    (all by default) to each input token. Every position's flow is refused beyond ``max_tokens`` tokens
    (T^2 max-flow problems), a few positions' beyond what ``budget`` allows (:func:`max_flow_tokens`).
    ``mixed``: the (L, T, T) layer matrices already made (``attention`` is then not read); ``token`` is
    checked before each row."""
    a = layer_matrices(attention, residual) if mixed is None else mixed
    L, T, _ = a.shape
    every = rows is None
    rows = list(range(T)) if rows is None else [int(r) for r in rows]
    if any(not 0 <= r < T for r in rows):
        raise UserError(f"flow rows must be positions 0 to {T - 1}")
    if every and T > max_tokens:
        raise UserError(f"attention flow is {T} x {T} max-flow problems on a {L + 1}-layer graph: at most "
                        f"{max_tokens} tokens (use rollout for longer texts, or the flow of one position)")
    limit = max_flow_tokens(L, len(rows), budget)
    if not every and T > limit:
        raise UserError(f"the attention flow of {len(rows)} position(s) through {L} layers takes too long beyond "
                        f"{limit} tokens; this text is {T} (use rollout for longer texts)")
    src, dst, cap = [], [], []
    for layer in range(L):  # edges from (layer + 1, i) down to (layer, j)
        i, j = np.nonzero(a[layer] > 0)
        src.append((layer + 1) * T + i)
        dst.append(layer * T + j)
        cap.append(np.rint(a[layer][i, j] * FLOW_SCALE).astype(np.int32))
    n = (L + 1) * T
    graph = csr_matrix((np.concatenate(cap), (np.concatenate(src), np.concatenate(dst))), shape=(n, n))
    out = np.zeros((len(rows), T))
    for r, i in enumerate(rows):
        if token is not None:
            token.check()
        for j in range(T):
            out[r, j] = maximum_flow(graph, L * T + i, j, method="dinic").flow_value / FLOW_SCALE
    return out


@dataclass
class Rollout:
    """A text's attention mixed across layers (see the module docstring)."""

    tokens: list[str]
    causal: bool
    mixed: np.ndarray  # (L, T, T): A^(l), each layer's heads' mean with the residual added, rows summing to 1
    raw: np.ndarray  # (L, T, T): each layer's heads' mean attention, without the residual
    rollout: np.ndarray  # (L, T, T): R^(l) = A^(l) ... A^(0)
    truncated: int = 0  # tokens left out at the text's start (longer than the context or max_tokens)

    def flow_rows(self, rows: list[int], budget: float = FLOW_BUDGET, token: CancelToken | None = None) -> np.ndarray:
        """Attention flow from the top positions ``rows`` to every input token: (len(rows), T)."""
        return flow(np.empty(0), rows=rows, mixed=self.mixed, budget=budget, token=token)

    def to_dict(self, layer: int | None = None, flow_rows: np.ndarray | None = None,
                rows: list[int] | None = None) -> dict:
        top = self.rollout.shape[0] - 1 if layer is None else layer
        out = {"tokens": self.tokens, "layers": int(self.rollout.shape[0]), "layer": top,
               "rollout": self.rollout[top].tolist(), "truncated": self.truncated}
        if flow_rows is not None:
            out["flow"] = {"rows": list(rows or []), "values": flow_rows.tolist()}
        return out


def rollout_for_text(model, tokenizer, text: str, residual: float = 0.5,  # noqa: ANN001
                     max_tokens: int = MAX_ROLLOUT_TOKENS, token: CancelToken | None = None) -> Rollout:
    """Rollout of ``text`` (its last ``max_tokens`` tokens at most) from one forward pass that streams each
    layer's attention (engine.inference): only the heads' mean of a layer is kept, never (L, H, T, T)."""
    from engine.inference import attention_for_text

    raw: list[np.ndarray] = []

    def on_layer(layer: int, att: np.ndarray, _scores: np.ndarray | None) -> None:
        if token is not None:
            token.check()
        raw.append(att.mean(0, dtype=np.float64))  # (T, T)

    cap = attention_for_text(model, tokenizer, text, window="last", on_layer=on_layer, max_tokens=max_tokens)
    means = np.stack(raw)  # (L, T, T)
    mixed = mixed_with_residual(means, residual)
    return Rollout(cap.tokens, cap.causal, mixed, means, rolled_out(mixed), cap.truncated)
