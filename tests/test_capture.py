"""The Attention view's pictures (engine.capture): thumbnails of every head, full matrices of some layers, any
other layer made again from the kept queries and keys exactly as the forward pass computed it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import engine.capture as capture
from engine.checkpoint import load_checkpoint
from engine.inference import attention_for_text
from engine.tasks import Cancelled, CancelToken

TEXT = "To be, or not to be: that is the question."


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)


def test_a_small_picture_keeps_every_layer(tiny):
    pic = capture.attention_picture(tiny.model, tiny.tokenizer, TEXT)
    full = attention_for_text(tiny.model, tiny.tokenizer, TEXT, window="last", scores=True)
    L, H, T = pic.shape
    assert pic.all_layers and pic.q is None and pic.tiles.shape == (L, H, T, T)
    assert np.allclose(np.stack([pic.layers[i].weights for i in range(L)]), full.attention)
    assert np.isnan(pic.tiles[0, 0, 0, 1]) and not np.isnan(pic.tiles[0, 0, 1, 0])  # the future, masked
    finite = full.scores[np.isfinite(full.scores)]
    assert pic.score_range == (pytest.approx(finite.min()), pytest.approx(finite.max()))


def test_a_large_picture_remakes_any_layer_from_queries_and_keys(tiny, monkeypatch):
    monkeypatch.setattr(capture, "KEEP_ALL_BYTES", 0)  # as for a real model on a long input
    pic = capture.attention_picture(tiny.model, tiny.tokenizer, TEXT, keep=[0])
    full = attention_for_text(tiny.model, tiny.tokenizer, TEXT, window="last", scores=True)
    assert set(pic.layers) == {0} and pic.q is not None and pic.q.shape[:2] == pic.shape[:2]
    for layer in range(pic.shape[0]):
        made = capture.layer_matrices(tiny.model, tiny.tokenizer, TEXT, layer, picture=pic)
        assert np.allclose(made.weights, full.attention[layer], atol=1e-5)
        finite = np.isfinite(full.scores[layer])
        assert np.array_equal(finite, np.isfinite(made.scores))
        assert np.allclose(made.scores[finite], full.scores[layer][finite], atol=1e-4)


def test_a_picture_can_be_cancelled_between_layers(tiny):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        capture.attention_picture(tiny.model, tiny.tokenizer, TEXT, token=token)


def test_long_inputs_are_cut_to_their_last_tokens(tiny):
    T = tiny.model.cfg.context
    pic = capture.attention_picture(tiny.model, tiny.tokenizer, TEXT * 5, max_tokens=20)
    assert pic.shape[2] == 20 and pic.truncated == len(TEXT * 5) - 19 and pic.shape[2] < T


def test_most_attended_averages_heads_and_leaves_the_sink_out():
    from engine.focus import most_attended

    rows = np.zeros((2, 3, 5), dtype=np.float32)
    rows[..., 0] = 0.5  # the sink
    rows[0, :, 3] = 0.5
    rows[1, :, 2] = 0.3
    rows[1, :, 4] = 0.2
    top = most_attended(rows, n=2)
    assert [j for j, _ in top] == [3, 2] and abs(top[0][1] - 0.25) < 1e-6
    assert most_attended(rows, n=1, skip_first=False)[0][0] == 0


def test_causal_weights_pool_as_if_the_future_were_masked():
    """Softmax weights are pooled as they are (their future is 0): the same thumbnails as with the future masked
    explicitly, the blocks wholly in the future NaN, for lengths that do and do not divide into blocks."""
    from engine.tiles import pooled

    rng = np.random.default_rng(0)
    for T in (129, 300, 512):
        future = np.triu(np.ones((T, T), dtype=bool), 1)
        scores = rng.standard_normal((3, T, T)).astype(np.float32)
        scores[:, future] = -np.inf
        weights = torch.softmax(torch.from_numpy(scores), -1).numpy()
        explicit = weights.copy()
        explicit[:, future] = -np.inf
        fast, ref = pooled(weights, 128, causal=True), pooled(explicit, 128)
        assert fast.shape == ref.shape and np.array_equal(np.isnan(fast), np.isnan(ref))
        assert np.isnan(fast[:, 0, -1]).all() and not np.isnan(fast[:, -1, 0]).any()
        assert np.allclose(np.nan_to_num(fast), np.nan_to_num(ref))
