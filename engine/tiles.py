"""Attention matrices as the pictures show them: the causal mask made explicit, and long inputs shrunk to
thumbnails by max-pooling, so that every head of a large model on a long input fits in one grid (and in
memory) while a sharp peak (attention to one token) stays visible."""

from __future__ import annotations

import numpy as np

TILE = 128  # pixels a side of one head's thumbnail at most


def masked(mat: np.ndarray) -> np.ndarray:
    """A copy of causal (..., T, T) weights with the cells above the diagonal (the future) set to NaN, which
    every picture draws in the mask colour, never as a small weight."""
    out = np.array(mat, dtype=np.float32)
    T = out.shape[-1]
    out[..., np.triu(np.ones((T, T), dtype=bool), 1)] = np.nan
    return out


def pooled(mats: np.ndarray, size: int) -> np.ndarray:
    """(..., T, T) matrices shrunk to at most (size, size) by max-pooling blocks, so a sharp peak (attention to
    one token) stays visible in a thumbnail; a block that is all masked (non-finite) stays masked."""
    T = mats.shape[-1]
    b = -(-T // size)  # ceil: block side
    if b <= 1:
        return mats
    n = -(-T // b)
    lead = mats.shape[:-2]
    padded = np.full((*lead, n * b, n * b), -np.inf, dtype=np.float32)
    padded[..., :T, :T] = np.where(np.isfinite(mats), mats, -np.inf)
    cols = padded[..., 0::b].copy()  # (..., n b, n): the max of each run of b columns, then of b rows;
    for k in range(1, b):  # elementwise maxima of strided slices (numpy's max over a tiny axis is slow)
        np.maximum(cols, padded[..., k::b], out=cols)
    out = cols[..., 0::b, :].copy()
    for k in range(1, b):
        np.maximum(out, cols[..., k::b, :], out=out)
    out[np.isneginf(out)] = np.nan
    return out


def thumbnails(mats: np.ndarray, causal: bool, size: int = TILE) -> np.ndarray:
    """(L, H, T, T) -> (L, H, t, t) with t = min(T, size) (padded with masked cells to a whole block), a layer
    at a time so the temporary copies stay small."""
    return np.stack([pooled(masked(m) if causal else np.asarray(m, dtype=np.float32), size) for m in mats])
