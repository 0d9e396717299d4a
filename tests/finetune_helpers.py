"""A tiny base model and an easy labelled task for the fine-tuning tests (built in milliseconds)."""

from __future__ import annotations

import random
from pathlib import Path

import torch

from engine.checkpoint import LoadedModel
from engine.labelled import Dataset
from engine.model import ModelConfig, Transformer
from engine.tokenizers import Tokenizer

LETTERS = "abxyz "


def tiny_base(causal: bool = True, seed: int = 0) -> LoadedModel:
    """A 1-layer char model (d=16) over a few letters: untrained, but a real body to fine-tune."""
    tok = Tokenizer.train("char", [LETTERS * 4])
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=tok.vocab_size, context=24, d=16, H=2, L=1, causal=causal)
    return LoadedModel(Transformer(cfg).eval(), tok, {"name": "tiny", "model": cfg.to_dict()}, Path("tiny"))


def easy_task(n: int = 120, seed: int = 0) -> Dataset:
    """Texts of a/x letters (label "a") or b/x letters (label "b"): one glance at a letter decides."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        y = i % 2
        letters = "ax" if y == 0 else "bx"
        texts.append("".join(rng.choice(letters) for _ in range(rng.randint(6, 16))))
        labels.append(y)
    return Dataset(texts, labels, ["a", "b"], [""] * n)


def write_tsv(path: Path, ds: Dataset, header: bool = True) -> Path:
    lines = (["text\tlabel"] if header else []) + [f"{t}\t{ds.label_names[y]}" for t, y in
                                                   zip(ds.texts, ds.labels, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
