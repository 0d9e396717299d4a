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


def test_streamed_rollout_equals_the_full_attention_one(default):
    from engine.interp.rollout import rollout_for_text

    text = "To be, or not to be: that is the question."
    att = attention_for_text(default.model, default.tokenizer, text).attention
    r = rollout_for_text(default.model, default.tokenizer, text)
    np.testing.assert_allclose(r.rollout, rollout(att), atol=1e-12)
    np.testing.assert_allclose(r.raw, att.mean(1), atol=1e-6)
    T = len(r.tokens)
    np.testing.assert_allclose(r.flow_rows([T - 1, 3]), flow(att, rows=[T - 1, 3]), atol=1e-12)
    d = r.to_dict(1, r.flow_rows([3]), [3])
    assert d["layer"] == 1 and np.array(d["rollout"]).shape == (T, T) and d["flow"]["rows"] == [3]


def test_one_positions_flow_is_refused_beyond_its_budget():
    from engine.interp.rollout import max_flow_tokens

    att = _random_attention(4, 1, 40)
    assert max_flow_tokens(4, 1, 4 * 39**3) == 39
    with pytest.raises(UserError, match="beyond 39 tokens; this text is 40"):
        flow(att, rows=[39], budget=4 * 39**3)
    assert flow(att, rows=[39], budget=4 * 40**3).shape == (1, 40)


def test_txe_rollout(default):
    import json

    from tests.test_cli import txe_here

    r = txe_here("rollout", "--text", "To be, or not to be", "--flow", "--positions", "0,-1", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    T = len(out["tokens"])
    assert out["layer"] == out["layers"] - 1 and np.allclose(np.array(out["rollout"]).sum(-1), 1.0)
    assert out["flow"]["rows"] == [0, T - 1] and np.array(out["flow"]["values"]).shape == (2, T)
    r = txe_here("rollout", "--text", "To be", "--positions", "all", "--layer", "0")
    assert r.returncode == 0 and r.stdout.count("position") == 6
    for argv, message in [(["--positions", "x"], "malformed position"), (["--positions", "99"], "outside the text"),
                          (["--layer", "4"], "layers 0 to 3"), (["--positions", ","], "at least one position")]:
        r = txe_here("rollout", "--text", "To be", *argv)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
