"""Models for the decoding tests: the embedded default model, the session's tiny one, a 5-token one."""

from __future__ import annotations

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.model import GPT, ModelConfig
from engine.tokenizers import Tokenizer


@pytest.fixture(scope="session")
def default_model():
    return load_checkpoint(None)


@pytest.fixture(scope="session")
def tiny(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)


@pytest.fixture(scope="session")
def five():
    """A random GPT over 5 tokens (<|bos|>, <|unk|>, a, b, c), weights scaled up so choices are clear."""
    tok = Tokenizer.train("char", ["abc"])
    assert tok.vocab_size == 5
    torch.manual_seed(3)
    model = GPT(ModelConfig(vocab_size=5, context=16, d=16, H=2, L=2)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(40.0)
    return model, tok


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Decoding runs one position at a time: a second thread only adds sync cost (4x slower on a busy CPU)."""
