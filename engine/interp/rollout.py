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

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_flow

from engine.errors import UserError

MAX_FLOW_TOKENS = 64
FLOW_SCALE = 1_000_000  # capacities as integers: 1e-6 of a unit


def layer_matrices(attention: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """(L, H, T, T) attention -> (L, T, T): the heads' mean mixed with the identity, rows normalised."""
    a = np.asarray(attention, dtype=np.float64).mean(1)  # (L, T, T)
    T = a.shape[-1]
    a = (1 - residual) * a + residual * np.eye(T)
    return a / a.sum(-1, keepdims=True)


def rollout(attention: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout after every layer: (L, T, T), entry [l] = A^(l) ... A^(0) (layers from 0)."""
    a = layer_matrices(attention, residual)
    out = np.empty_like(a)
    r = np.eye(a.shape[-1])
    for layer, m in enumerate(a):
        r = m @ r  # (T, T)
        out[layer] = r
    return out


def flow(attention: np.ndarray, residual: float = 0.5, rows: list[int] | None = None,
         max_tokens: int = MAX_FLOW_TOKENS) -> np.ndarray:
    """Attention flow through all layers: (len(rows), T), the max flow from each top position in ``rows``
    (all by default) to each input token; refused beyond ``max_tokens`` tokens (T^2 max-flow problems)."""
    a = layer_matrices(attention, residual)
    L, T, _ = a.shape
    if T > max_tokens:
        raise UserError(f"attention flow is {T} x {T} max-flow problems on a {L + 1}-layer graph: at most "
                        f"{max_tokens} tokens (use rollout for longer texts)")
    rows = list(range(T)) if rows is None else [int(r) for r in rows]
    if any(not 0 <= r < T for r in rows):
        raise UserError(f"flow rows must be positions 0 to {T - 1}")
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
        for j in range(T):
            out[r, j] = maximum_flow(graph, L * T + i, j, method="dinic").flow_value / FLOW_SCALE
    return out
