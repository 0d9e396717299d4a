"""Two models on one text: a model against itself with one head's output projection cut."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from engine.errors import UserError
from engine.interp.ablation import Site, intervene
from engine.interp.compare import compare
from engine.models import open_model
from tests.interp.conftest import TEXT


def test_a_model_against_itself_with_a_head_cut(default):
    m, tok = default.model, default.tokenizer
    cut = copy.deepcopy(m)
    with torch.no_grad():
        cut.blocks[1].attn.W_c.weight[:, 0:m.cfg.d_k] = 0  # head 1.0 writes nothing
    c = compare((m, tok), (cut, tok), TEXT, ("default", "cut"))
    r = intervene(m, tok, TEXT, [Site(1, 0)])
    np.testing.assert_allclose(c.per_token[0], r.per_token_before, atol=1e-5)
    np.testing.assert_allclose(c.loss_diff, r.per_token_after - r.per_token_before, atol=1e-5)
    diff = c.attention_diff
    assert np.abs(diff[:2]).max() == 0.0 and np.abs(diff[2:]).max() > 1e-3  # layers 0-1 see the same input
    sd = c.scores_diff
    assert np.abs(sd["previous_token"][:2]).max() == 0.0 and np.abs(sd["previous_token"][2:]).max() > 0
    d = c.to_dict()
    assert d["loss"]["diff"] == pytest.approx(r.loss_after - r.loss_before, abs=1e-5)
    assert d["models"] == ["default", "cut"] and len(d["per_token"]["diff"]) == len(c.tokens) - 1
    assert np.array(d["attention"]["mean_abs_diff"]).shape == (4, 4)


def test_models_with_different_tokenizers_are_refused(default):
    bpe = open_model("default-bpe")
    with pytest.raises(UserError, match="different tokenizers"):
        compare((default.model, default.tokenizer), (bpe.model, bpe.tokenizer), TEXT)


def test_compare_without_head_scores(default):
    m, tok = default.model, default.tokenizer
    out = compare((m, tok), (m, tok), TEXT, scores=False)
    assert out.scores == [] and out.scores_diff is None and out.to_dict()["scores"] is None
    assert np.abs(out.attention_diff).max() == 0.0 and np.abs(out.loss_diff).max() == 0.0


def test_gpt_against_bert_on_one_tokenizer():
    """The masked model and its next-token twin share a BPE tokenizer: attention and head scores side by side,
    no per-token loss (the masked model predicts no next token); BERT's future cells are real weights."""
    gpt, bert = open_model("default-bpe"), open_model("default-mlm")
    c = compare((gpt.model, gpt.tokenizer), (bert.model, bert.tokenizer), TEXT, ("gpt", "bert"))
    assert not c.has_loss and c.to_dict()["loss"] is None and c.to_dict()["per_token"] is None
    a, b = c.attention
    T = len(c.tokens)
    upper = np.triu(np.ones((T, T), dtype=bool), 1)
    assert a[..., upper].max() == 0.0 and b[..., upper].max() > 0.01  # causal against bidirectional
    assert set(c.scores_diff) == {"previous_token", "first_token", "duplicate_token", "induction"}
