"""Attention matrices as the pictures show them: the causal mask made explicit, and long inputs shrunk to
thumbnails by max-pooling, so that every head of a large model on a long input fits in one grid (and in
memory) while a sharp peak (attention to one token) stays visible."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

TILE = 128  # pixels a side of one head's thumbnail at most


def masked(mat: np.ndarray) -> np.ndarray:
    """A copy of causal (..., T, T) weights with the cells above the diagonal (the future) set to NaN, which
    every picture draws in the mask colour, never as a small weight."""
    out = np.array(mat, dtype=np.float32)
    T = out.shape[-1]
    out[..., np.triu(np.ones((T, T), dtype=bool), 1)] = np.nan
    return out


def pooled(mats: np.ndarray, size: int, causal: bool = False) -> np.ndarray:
    """(..., T, T) matrices shrunk to at most (size, size) by max-pooling blocks, so a sharp peak (attention to
    one token) stays visible in a thumbnail; a block that is all masked (non-finite, or above the diagonal
    with ``causal``) is NaN. Matrices that already fit are returned as they are (masked when ``causal``)."""
    T = mats.shape[-1]
    b = -(-T // size)  # ceil: block side
    if b <= 1:
        return masked(mats) if causal else mats
    lead = mats.shape[:-2]
    t = torch.from_numpy(np.ascontiguousarray(mats, dtype=np.float32)).reshape(-1, 1, T, T)
    if causal and _zero_future(t):
        # a model's weights: the future is 0 and every real cell >= 0, so pooling them as they are gives the
        # same maxima (no masked copy of 270 heads); only the blocks wholly in the future become NaN
        out = F.max_pool2d(t, b, b, ceil_mode=True)  # (N, 1, n, n): torch's pooling, far quicker than numpy's
        out[:, :, _future_blocks(T, b)] = math.nan
        return out.reshape(*lead, *out.shape[-2:]).numpy()
    if causal:  # the future loses to any real cell, in the same pass as the copy
        t = t.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), -math.inf)
    if math.isnan(float(t.max())):  # torch.max propagates NaN: one pass finds it; NaN counts as masked
        t = torch.nan_to_num(t, nan=-math.inf, neginf=-math.inf)
    out = F.max_pool2d(t, b, b, ceil_mode=True)
    out.masked_fill_(torch.isneginf(out), math.nan)
    return out.reshape(*lead, *out.shape[-2:]).numpy()


def _zero_future(t: torch.Tensor) -> bool:
    """Whether (N, 1, T, T) causal matrices look like weights as softmax leaves them (no cell below 0, the
    future 0): checked on the first query row, whose future is all but one cell, as a cheap witness."""
    return bool(t.min() >= 0) and not bool(t[:, :, 0, 1:].any())


@functools.lru_cache(maxsize=8)
def _future_blocks(T: int, b: int) -> torch.Tensor:
    """(n, n) bool: the pooled blocks of a causal T x T matrix that hold no cell at or below the diagonal."""
    n = -(-T // b)
    first_key = torch.arange(n) * b  # of block column j
    last_query = torch.clamp(torch.arange(n) * b + b - 1, max=T - 1)  # of block row i
    return first_key[None, :] > last_query[:, None]  # (i, j): its first key comes after its last query


def thumbnails(mats: np.ndarray, causal: bool, size: int = TILE) -> np.ndarray:
    """(L, H, T, T) -> (L, H, t, t) with t = min(T, size), a layer at a time so the temporary copies stay small."""
    return np.stack([pooled(m, size, causal) for m in mats])
