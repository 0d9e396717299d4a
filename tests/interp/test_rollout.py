"""Attention rollout and flow: normalised rows, exact on one layer, and flow checked against networkx."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import UserError
from engine.inference import attention_for_text
from engine.interp.rollout import flow, layer_matrices, rollout


def _random_attention(L: int, H: int, T: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((L, H, T, T))
    s[..., np.triu(np.ones((T, T), dtype=bool), 1)] = -np.inf
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_rollout_rows_sum_to_one_and_compose_layer_by_layer(default):
    att = attention_for_text(default.model, default.tokenizer, "To be, or not to be").attention  # (L, H, T, T)
    r = rollout(att)
    L, H, T, _ = att.shape
    assert r.shape == (L, T, T)
    np.testing.assert_allclose(r.sum(-1), 1.0, atol=1e-12)
    assert np.all(r[:, np.triu(np.ones((T, T), dtype=bool), 1)] == 0)  # causal: no input from the future
    a = 0.5 * att.mean(1) + 0.5 * np.eye(T)
    np.testing.assert_allclose(r[0], a[0], atol=1e-6)  # rows of 0.5 A + 0.5 I sum to 1 (float32)
    np.testing.assert_allclose(r[2], a[2] @ a[1] @ a[0], atol=1e-6)


def test_flow_of_one_layer_is_its_matrix():
    att = _random_attention(1, 2, 5)
    np.testing.assert_allclose(flow(att), layer_matrices(att)[0], atol=2e-6)


def test_flow_equals_networkx_max_flow():
    import networkx as nx

    att = _random_attention(3, 2, 6, seed=3)
    a = layer_matrices(att)
    L, T, _ = a.shape
    g = nx.DiGraph()
    for layer in range(L):
        for i in range(T):
            for j in range(i + 1):
                g.add_edge((layer + 1, i), (layer, j), capacity=a[layer, i, j])
    ours = flow(att, rows=[5, 2])
    for r, i in enumerate([5, 2]):
        for j in range(T):
            expected = nx.maximum_flow_value(g, (L, i), (0, j)) if j <= i else 0.0
            assert ours[r, j] == pytest.approx(expected, abs=1e-5)


def test_flow_is_refused_beyond_its_cap():
    with pytest.raises(UserError, match="at most 64 tokens"):
        flow(_random_attention(1, 1, 65))
    with pytest.raises(UserError, match="positions 0 to 4"):
        flow(_random_attention(1, 1, 5), rows=[5])
