"""Tiny translators of each family, trained once per session on a handful of grammar sentences."""

from __future__ import annotations

import random

import pytest
import torch

from engine.seq2seq.data import pairs_data
from engine.seq2seq.grammar import Grammar
from engine.seq2seq.train import train
from tests.decoding.conftest import _one_thread  # noqa: F401  (autouse: decoding runs one position at a time)

TINY = {"rnn": {"emb": 32, "hidden": 64}, "gru": {"emb": 32, "hidden": 64}, "lstm": {"emb": 32, "hidden": 64},
        "rnn-attention": {"emb": 32, "hidden": 48}, "transformer": {"d": 32, "heads": 2, "layers": 1, "ff": 64}}


def short_pairs(n: int, seed: int = 1, max_words: int = 7):
    """``n`` distinct grammar pairs of at most ``max_words`` source words, the example first."""
    g = Grammar()
    rng = random.Random(seed)
    out = [g.example()]
    while len(out) < n:
        p = g.sentence(rng, complexity=0.0)
        if len(p.source) <= max_words and p.src_text not in {q.src_text for q in out}:
            out.append(p)
    return out


@pytest.fixture(scope="session")
def tiny_pairs():
    return short_pairs(6)


@pytest.fixture(scope="session")
def tiny_data(tiny_pairs):
    return pairs_data(tiny_pairs, tiny_pairs, tiny_pairs)


@pytest.fixture(scope="session")
def overfit(tiny_data):
    """arch -> a translator trained until it knows the six sentences by heart."""
    torch.set_num_threads(1)
    out = {}
    for arch, steps in (("gru", 200), ("rnn-attention", 150), ("transformer", 300)):
        out[arch] = train(tiny_data, arch, steps=steps, batch=6, lr=1e-2, evals=0, seed=0, **TINY[arch]).translator
    return out
