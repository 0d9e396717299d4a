"""Sampling: temperature, top-k, top-p, seeds; top-k = 1 and temperature 0 are greedy."""

import numpy as np
import pytest
import torch

from engine.decoding import greedy, next_token_panel, sample, samples
from engine.decoding.sampling import divergence, filter_distribution
from engine.errors import UserError
from engine.inference import next_token_distribution


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_top_k_1_is_greedy(default_model, temperature):
    model, tok = default_model.model, default_model.tokenizer
    g = greedy(model, tok, "JULIET:", 80)
    for seed in (0, 1):
        s = sample(model, tok, "JULIET:", 80, temperature=temperature, top_k=1, seed=seed)
        assert s.ids == g.ids and s.text == g.text
        assert s.logprobs == pytest.approx(g.logprobs, abs=1e-9)


def test_temperature_0_and_tiny_top_p_are_greedy(tiny):
    g = greedy(tiny.model, tiny.tokenizer, "To be", 30)
    assert sample(tiny.model, tiny.tokenizer, "To be", 30, temperature=0, seed=5).ids == g.ids
    assert sample(tiny.model, tiny.tokenizer, "To be", 30, top_p=1e-9, seed=5).ids == g.ids


def test_a_seed_reproduces_a_sample(default_model):
    model, tok = default_model.model, default_model.tokenizer
    a = sample(model, tok, "ROMEO:", 120, temperature=1.2, top_k=20, top_p=0.95, seed=42)
    b = sample(model, tok, "ROMEO:", 120, temperature=1.2, top_k=20, top_p=0.95, seed=42)
    c = sample(model, tok, "ROMEO:", 120, temperature=1.2, top_k=20, top_p=0.95, seed=43)
    assert a.text == b.text and a.extra["seed"] == 42
    assert a.text != c.text
    d = sample(model, tok, "ROMEO:", 120, temperature=1.2, top_k=20, top_p=0.95, seed=42, use_cache=False)
    assert d.ids == a.ids  # the cache changes nothing but the speed
    r = sample(model, tok, "ROMEO:", 5)
    assert isinstance(r.extra["seed"], int)  # a random seed is reported so the sample can be replayed


def test_filter_distribution():
    torch.manual_seed(0)
    logits = torch.randn(30) * 2
    specials = [0, 1]
    f = filter_distribution(logits, specials, temperature=0.7, top_k=10, top_p=0.8)
    assert f.tempered[specials].sum() == 0 and float(f.tempered.sum()) == pytest.approx(1.0)
    want = torch.softmax(torch.cat([torch.full((2,), -torch.inf), logits[2:].double()]) / 0.7, -1)
    torch.testing.assert_close(f.tempered, want)
    assert int(f.keep_top_k.sum()) == 10
    assert bool((f.keep_top_p <= f.keep_top_k).all())
    # top-p keeps the smallest set of most probable tokens whose mass (within top-k) reaches p
    within_k = torch.where(f.keep_top_k, f.tempered, 0) / f.tempered[f.keep_top_k].sum()
    kept = within_k[f.keep_top_p]
    assert float(kept.sum()) >= 0.8 and float(kept.sum() - kept.min()) < 0.8
    assert float(within_k[~f.keep_top_p].max()) <= float(kept.min())
    assert float(f.final.sum()) == pytest.approx(1.0) and bool((f.final[~f.keep_top_p] == 0).all())
    flat = filter_distribution(logits, specials, temperature=100.0)
    assert float(flat.tempered[2:].std()) < float(f.tempered[2:].std())  # higher temperature flattens


def test_next_token_panel(tiny):
    panel = next_token_panel(tiny.model, tiny.tokenizer, "To b", temperature=0.5, top_k=5, top_p=0.9)
    V = tiny.tokenizer.vocab_size
    assert panel.probs.shape == panel.tempered.shape == panel.final.shape == (V,)
    np.testing.assert_allclose(panel.probs, next_token_distribution(tiny.model, tiny.tokenizer, "To b").probs,
                               atol=1e-6)
    assert panel.keep_top_k.sum() == 5 and panel.final.sum() == pytest.approx(1.0)
    assert panel.tempered[panel.order[0]] == panel.tempered.max()
    d = panel.to_dict(limit=8)
    assert len(d["tokens"]) == 8 and d["tokens"][0]["top_k"] is True


def test_samples_and_where_they_leave_greedy(tiny):
    path, out = samples(tiny.model, tiny.tokenizer, "To be", n=4, max_new=25, temperature=1.0, seed=7)
    assert [s.seed for s in out] == [7, 8, 9, 10]
    for s in out:
        i = s.leaves_greedy_at
        if i is None:
            assert s.generation.ids == path.ids
        else:
            assert s.generation.ids[:i] == path.ids[:i] and s.generation.ids[i] != path.ids[i]
        assert sample(tiny.model, tiny.tokenizer, "To be", 25, seed=s.seed).ids == s.generation.ids
    assert divergence([1, 2, 3], [1, 2, 3]) is None and divergence([1, 2], [1, 2, 3]) == 2
    assert divergence([4], [1]) == 0


def test_stop_string_ends_a_sample(tiny):
    s = sample(tiny.model, tiny.tokenizer, "HAMLET:", 200, seed=3, eos=[":"])
    assert s.end == "eos" and s.generated.endswith(":") and s.generated.count(":") == 1


@pytest.mark.parametrize("kw,msg", [(dict(temperature=-1), "temperature"), (dict(top_p=0), "top-p"),
                                    (dict(top_p=1.5), "top-p"), (dict(top_k=-2), "top-k"),
                                    (dict(max_new=-3), "new tokens")])
def test_bad_sampling_settings(tiny, kw, msg):
    args = dict(max_new=5) | kw
    with pytest.raises(UserError, match=msg):
        sample(tiny.model, tiny.tokenizer, "To", **args)
