"""Head scores: exact on constructed attention patterns, and what the default model's heads do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import UserError
from engine.interp.heads import SCORES, head_scores, repeated_tokens, scores_from_attention
from engine.model import Probe


def _pattern(T: int, key_of) -> torch.Tensor:  # noqa: ANN001
    """(1, 1, 1, T, T): query i attends only to key_of(i) (i itself when None)."""
    a = torch.zeros(1, 1, 1, T, T)
    for i in range(T):
        j = key_of(i)
        a[..., i, i if j is None else j] = 1.0
    return a


def test_scores_of_constructed_patterns():
    start, n = 1, 5
    T = start + 2 * n
    prev = scores_from_attention(_pattern(T, lambda i: max(i - 1, 0)), start, n)
    assert prev["previous_token"][0, 0] == 1.0 and prev["induction"][0, 0] == 0.0
    induction = _pattern(T, lambda i: i - n + 1 if i >= start + n else None)
    s = scores_from_attention(induction, start, n)
    assert s["induction"][0, 0] == 1.0 and s["duplicate_token"][0, 0] == 0.0
    assert s["previous_token"][0, 0] == 0.0  # no query looks at the key just before it
    dup = scores_from_attention(_pattern(T, lambda i: i - n if i >= start + n else None), start, n)
    assert dup["duplicate_token"][0, 0] == 1.0 and dup["induction"][0, 0] == 0.0
    sink = scores_from_attention(_pattern(T, lambda i: 0), start, n)
    assert sink["first_token"][0, 0] == 1.0 and sink["previous_token"][0, 0] == pytest.approx(1 / (T - 1))
    uniform = torch.tril(torch.ones(T, T)) / torch.arange(1, T + 1)[:, None]
    u = scores_from_attention(uniform[None, None, None], start, n)
    assert u["first_token"][0, 0] == pytest.approx(float(np.mean([1 / (i + 1) for i in range(1, T)])))


def test_probe_data_repeats_a_seeded_random_segment(default):
    tok = default.tokenizer
    d = repeated_tokens(default.model, tok, n=30, batch=3, seed=7)
    assert d.ids.shape == (3, 61) and d.start == 1 and (d.ids[:, 0] == tok.bos_id).all()
    torch.testing.assert_close(d.ids[:, 1:31], d.ids[:, 31:])
    assert all(len(set(row[1:31].tolist())) == 30 for row in d.ids)  # no token twice in a segment
    assert not set(d.ids[:, 1:].flatten().tolist()) & {tok.bos_id, tok.unk_id}
    torch.testing.assert_close(d.ids, repeated_tokens(default.model, tok, n=30, batch=3, seed=7).ids)
    assert not torch.equal(d.ids, repeated_tokens(default.model, tok, n=30, batch=3, seed=8).ids)
    with pytest.raises(UserError, match="segment must be"):
        repeated_tokens(default.model, tok, n=200)


def test_the_default_models_scores(default):
    """The scores of every layer streamed equal those of the whole attention at once; the default char model
    has heads that lean to the character before (over twice the uniform head's score) and, at 4 layers and
    2,000 steps, no induction head yet (measured: every induction score <= 0.01)."""
    m, tok = default.model, default.tokenizer
    s = head_scores(m, tok, batch=4)
    assert set(s.scores) == set(SCORES) and all(v.shape == (4, 4) for v in s.scores.values())
    assert all(((v >= 0) & (v <= 1)).all() for v in s.scores.values())
    data = repeated_tokens(m, tok, batch=4)
    with torch.no_grad():
        att = m(data.ids, probe=Probe())[2].stacked_attention()  # (B, L, H, T, T)
    whole = scores_from_attention(att, data.start, data.n)
    for k in SCORES:
        np.testing.assert_allclose(s.scores[k], whole[k], atol=1e-12)
    T = data.ids.shape[1]
    uniform_previous = np.mean([1 / (i + 1) for i in range(1, T)])
    assert s.scores["previous_token"].max() > 2 * uniform_previous
    assert s.scores["induction"].max() < 0.1
