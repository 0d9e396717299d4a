"""What the Token view shows, computed headlessly: how a text splits, and the vocabulary with counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.corpus import load_corpus
from engine.tokenizers import Tokenizer

SAMPLE_CHARS = 2_000_000  # tokenizers for comparison are trained on this much of the corpus (seconds, not minutes)
_CACHE: dict[tuple[str, str, int], Tokenizer] = {}


@dataclass
class Split:
    kind: str
    tokens: list[str]
    ids: list[int]
    offsets: list[tuple[int, int]]
    unknown: int


@dataclass
class Vocabulary:
    tokens: list[str]  # index = id
    counts: np.ndarray  # (V,) occurrences in the corpus text


def split_text(tokenizer: Tokenizer, text: str) -> Split:
    enc = tokenizer.encode(text)
    tokens = [tokenizer.token_text(i) for i in enc.ids]
    return Split(tokenizer.kind, tokens, enc.ids, enc.offsets, enc.ids.count(tokenizer.unk_id))


def vocabulary(tokenizer: Tokenizer, corpus_text: str) -> Vocabulary:
    counts = np.bincount(tokenizer.encode_ids(corpus_text), minlength=tokenizer.vocab_size)
    return Vocabulary([tokenizer.token_text(i) for i in range(tokenizer.vocab_size)], counts)


def tokenizer_for(corpus: str, kind: str, vocab_size: int = 0) -> Tokenizer:
    """A tokenizer of ``kind`` trained on (the start of) ``corpus``, cached per corpus and kind."""
    key = (corpus, kind, vocab_size)
    if key not in _CACHE:
        text = load_corpus(corpus).text[:SAMPLE_CHARS]
        _CACHE[key] = Tokenizer.train(kind, [text], vocab_size or (1024 if kind == "bpe" else 0))
    return _CACHE[key]
