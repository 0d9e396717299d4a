"""Ablation and patching through the hook points, checked against the model recomputed by hand."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from engine.errors import UserError
from engine.interp.ablation import Site, every_head_effect, intervene, parse_sites
from engine.interp.hooks import hooks, z_name
from engine.interp.text import embed_input, run_blocks, text_input, token_nll
from tests.interp.conftest import TEXT


def test_blocks_taken_apart_equal_the_forward_pass(default):
    m, tok = default.model, default.tokenizer
    inp = text_input(m, tok, TEXT)
    x, rope = embed_input(m, inp.tensor)
    with torch.no_grad():
        logits = m(inp.tensor)[0]
        nll = token_nll(m, run_blocks(m, x, rope), inp.targets)
    ref = torch.nn.functional.cross_entropy(logits[0, :-1].double(), inp.targets, reduction="none")
    torch.testing.assert_close(nll[0], ref, rtol=1e-5, atol=1e-5)


def test_zero_ablating_a_head_equals_zeroing_its_columns_of_W_c(default):
    """z^(h) = 0 removes W_{h,c}^T z^(h) from u' (Eq. 11.14): the same as zeroing head h's columns of W_c."""
    m, tok = default.model, default.tokenizer
    layer, head = 1, 2
    r = intervene(m, tok, TEXT, [Site(layer, head)])
    manual = copy.deepcopy(m)
    d_k = m.cfg.d_k
    with torch.no_grad():
        manual.blocks[layer].attn.W_c.weight[:, head * d_k:(head + 1) * d_k] = 0
        logits = manual(text_input(m, tok, TEXT).tensor)[0][0].double()
    targets = text_input(m, tok, TEXT).targets
    nll = torch.nn.functional.cross_entropy(logits[:-1], targets, reduction="none")
    np.testing.assert_allclose(r.per_token_after, nll.numpy(), rtol=1e-5, atol=1e-6)
    assert r.loss_after == pytest.approx(float(nll.mean()), rel=1e-6)
    assert r.loss_after != pytest.approx(r.loss_before, abs=1e-3)  # the head matters on this text


def test_zero_ablating_an_mlp_equals_zeroing_W_2(default):
    m, tok = default.model, default.tokenizer
    r = intervene(m, tok, TEXT, [Site(2)])
    manual = copy.deepcopy(m)
    with torch.no_grad():
        manual.blocks[2].ffn.W_2.weight.zero_()
        logits = manual(text_input(m, tok, TEXT).tensor)[0][0].double()
    nll = torch.nn.functional.cross_entropy(logits[:-1], text_input(m, tok, TEXT).targets, reduction="none")
    np.testing.assert_allclose(r.per_token_after, nll.numpy(), rtol=1e-5, atol=1e-6)


def test_nothing_switched_off_changes_nothing_and_hooks_are_gone_afterwards(default):
    m, tok = default.model, default.tokenizer
    r = intervene(m, tok, TEXT, [])
    assert r.loss_after == r.loss_before and float(r.kl.max()) == 0.0
    assert r.top_after == r.top_before
    idx = text_input(m, tok, TEXT).tensor
    with torch.no_grad():
        clean = m(idx)[0]
        with pytest.raises(RuntimeError), hooks(m, {z_name(0): lambda y: 1 / 0}):
            try:
                m(idx)
            except ZeroDivisionError as e:
                raise RuntimeError from e
        torch.testing.assert_close(m(idx)[0], clean, rtol=0, atol=0)  # no hook left behind
    assert all(b.attn.hook_z is None and b.ffn.hook_out is None for b in m.blocks)


def test_patching_a_prompt_with_itself_changes_nothing(default):
    m, tok = default.model, default.tokenizer
    sites = [Site(0, 0), Site(1, 3), Site(3)]
    r = intervene(m, tok, TEXT, sites, "patch", source=TEXT)
    np.testing.assert_allclose(r.per_token_after, r.per_token_before, atol=1e-6)
    assert r.patched == len(r.tokens)


def test_patching_the_last_positions_leaves_the_earlier_ones_alone(default):
    m, tok = default.model, default.tokenizer
    other = "OPHELIA:\nGood my lord,\nHow does your honour for this many a day? I humbly thank you."
    r = intervene(m, tok, TEXT, [Site(l, h) for l in range(4) for h in range(4)], "patch", source=other, last=5)
    T = len(r.tokens)
    np.testing.assert_allclose(r.per_token_after[:T - 6], r.per_token_before[:T - 6], atol=1e-9)  # causal
    assert np.abs(r.per_token_after[T - 6:] - r.per_token_before[T - 6:]).max() > 1e-3
    assert r.kl[-1] > 0


def test_mean_ablation_over_a_reference_of_the_text_itself_is_the_mean_over_its_positions(default):
    m, tok = default.model, default.tokenizer
    a = intervene(m, tok, TEXT, [Site(2, 1), Site(0)], "mean")
    b = intervene(m, tok, TEXT, [Site(2, 1), Site(0)], "mean", reference=[TEXT])
    np.testing.assert_allclose(a.per_token_after, b.per_token_after, atol=1e-9)
    assert a.loss_after != pytest.approx(a.loss_before, abs=1e-4)


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_every_head_effect_equals_one_ablation_at_a_time(default, mode):
    m, tok = default.model, default.tokenizer
    e = every_head_effect(m, tok, TEXT, mode)
    assert e.effect.shape == (4, 4)
    for layer, head in [(0, 0), (0, 3), (2, 1), (3, 3)]:
        r = intervene(m, tok, TEXT, [Site(layer, head)], mode)
        assert e.effect[layer, head] == pytest.approx(r.loss_after - r.loss_before, abs=1e-9)
        np.testing.assert_allclose(e.per_token[layer, head], r.per_token_after, atol=1e-9)


@pytest.mark.parametrize("heads, mlps, message", [
    ("9.9", "", "there is no head 9.9"),
    ("0.4", "", "there is no head 0.4"),
    ("", "7", "there is no MLP layer 7"),
    ("1-2", "", "malformed head"),
    ("0.1,x", "", "malformed head 'x'"),
    ("", "a", "malformed MLP layer"),
])
def test_bad_sites_are_refused(default, heads, mlps, message):
    with pytest.raises(UserError, match=message):
        intervene(default.model, default.tokenizer, TEXT, parse_sites(heads, mlps))


def test_bad_patches_and_texts_are_refused(default):
    m, tok = default.model, default.tokenizer
    with pytest.raises(UserError, match="same length"):
        intervene(m, tok, TEXT, [Site(0, 0)], "patch", source="short")
    with pytest.raises(UserError, match="--last must be"):
        intervene(m, tok, TEXT, [Site(0, 0)], "patch", source="short", last=50)
    with pytest.raises(UserError, match="empty"):
        intervene(m, tok, "", [Site(0, 0)])
    with pytest.raises(UserError, match="unknown mode"):
        intervene(m, tok, TEXT, [Site(0, 0)], "shuffle")


def test_a_text_longer_than_the_context_keeps_its_last_tokens(default):
    r = intervene(default.model, default.tokenizer, "ab" * 200, [Site(0, 0)])
    assert r.truncated == 400 - 255 and len(r.tokens) == 256
