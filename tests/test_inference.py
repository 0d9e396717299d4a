import math

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.errors import UserError
from engine.inference import attention_for_text, next_token_distribution, score_text


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)


def test_next_token_distribution(loaded):
    nt = next_token_distribution(loaded.model, loaded.tokenizer, "To be, or not to b")
    assert nt.probs.shape == (loaded.tokenizer.vocab_size,)
    assert nt.probs.sum() == pytest.approx(1.0, abs=1e-6)
    top = nt.top(loaded.tokenizer, 5)
    assert len(top) == 5 and top[0][1] >= top[-1][1]
    assert nt.tokens[0] == "<|bos|>"


def test_score_is_the_product_of_conditionals(loaded):
    text = "To be, or not"
    s = score_text(loaded.model, loaded.tokenizer, text)
    assert s.tokens == list(text)
    assert s.logprob == pytest.approx(sum(math.log(p) for p in s.probs))
    # the first token's probability is p(x_1 | start)
    first = next_token_distribution(loaded.model, loaded.tokenizer, "")
    assert s.probs[0] == pytest.approx(first.probs[s.ids[0]], rel=1e-5)
    # and the k-th is the distribution after the first k-1 tokens
    fifth = next_token_distribution(loaded.model, loaded.tokenizer, text[:4])
    assert s.probs[4] == pytest.approx(fifth.probs[s.ids[4]], rel=1e-5)


def test_long_text_is_scored_with_a_sliding_window(loaded):
    T = loaded.model.cfg.context
    text = "To be, or not to be: that is the question: whether 'tis nobler in the mind"
    assert len(text) > T
    s = score_text(loaded.model, loaded.tokenizer, text)
    short = score_text(loaded.model, loaded.tokenizer, text[:T])
    assert len(s.probs) == len(text)
    np.testing.assert_allclose(s.probs[:T], short.probs, rtol=1e-5)
    # token T is predicted from <|bos|> and the T-1 tokens before it
    window = next_token_distribution(loaded.model, loaded.tokenizer, text[T - (T - 1):T])
    assert s.probs[T] == pytest.approx(window.probs[s.ids[T]], rel=1e-4)


def test_attention_capture_shapes_and_mask(loaded):
    cap = attention_for_text(loaded.model, loaded.tokenizer, "To be", scores=True)
    assert cap.attention.shape == (2, 2, 6, 6) and cap.tokens == ["<|bos|>", "T", "o", " ", "b", "e"]
    assert cap.offsets[1:] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert np.all(cap.attention[..., np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] == 0)
    assert np.isneginf(cap.scores[0, 0, 0, 1])


def test_text_longer_than_the_context(loaded):
    text = "x" * 100
    with pytest.raises(UserError, match="context is 32"):
        attention_for_text(loaded.model, loaded.tokenizer, text)
    cap = attention_for_text(loaded.model, loaded.tokenizer, "ab" * 50, window="last")
    assert cap.attention.shape[-1] == 32 and cap.truncated == 100 - 31


def test_unknown_tokens_and_empty_text(loaded):
    s = score_text(loaded.model, loaded.tokenizer, "To 東")
    assert s.ids[-1] == loaded.tokenizer.unk_id and s.tokens[-1] == "<|unk|>"
    with pytest.raises(UserError, match="empty"):
        score_text(loaded.model, loaded.tokenizer, "")
    with pytest.raises(UserError, match="empty"):
        attention_for_text(loaded.model, loaded.tokenizer, "")


def test_sampling_is_seeded(loaded):
    from engine.decoding.sampling import sample

    a, b, c = (sample(loaded.model, loaded.tokenizer, "To", 50, seed=seed).text for seed in (3, 3, 4))
    assert a == b and a != c and a.startswith("To") and len(a) == 52
    torch.manual_seed(0)


def test_strided_scoring_gives_each_token_its_own_window(loaded):
    """Beyond the context, ``stride`` tokens share a window: [bos] + the T - 1 tokens before the last of them
    (ids[end - T + 1 .. end - 1]); token t is predicted at its place in it, so from at least T - stride tokens
    before it; the tokens of the first window are scored as before."""
    model, tok = loaded.model, loaded.tokenizer
    T = model.cfg.context
    text = "To be, or not to be: that is the question: whether 'tis nobler in the mind to suffer. " * 2
    exact = score_text(model, tok, text)
    stride = 6
    strided = score_text(model, tok, text, stride=stride)
    ids = tok.encode(text).ids
    assert len(ids) > 3 * T and strided.probs[:T] == pytest.approx(exact.probs[:T], abs=1e-12)
    for t in (T, T + 1, T + stride - 1, len(ids) - 1):
        end = min(T + ((t - T) // stride + 1) * stride - 1, len(ids) - 1)
        window = torch.tensor([[tok.bos_id] + ids[end - T + 1:end]])
        with torch.no_grad():
            logits, _, _ = model(window)
        at = T - 1 - (end - t)
        expected = torch.softmax(logits[0, at].double(), -1)[ids[t]].item()
        assert strided.probs[t] == pytest.approx(expected, rel=1e-9), t
    assert score_text(model, tok, text, stride=1).probs == exact.probs  # stride 1: one window per token
