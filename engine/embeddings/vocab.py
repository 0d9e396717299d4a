"""Words for word embeddings: lowercase word tokens (apostrophes kept inside words), counts, min count.

Seed 002, section 11.1 maps each word w of a vocabulary to a vector v_w; this module decides what a
"word" is. A word is a run of letters or digits, optionally joined by apostrophes inside it
(``o'er``, ``lov'd``, ``king's``); everything is lowercased, so ``King`` and ``king`` share a vector
(as the standard evaluation sets expect). A leading or trailing apostrophe is dropped (``'tis`` ->
``tis``), since it is as often a quotation mark as an elision.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from engine.errors import UserError

# [^\W_] is "a letter or digit in any script"; curly apostrophes are normalised first
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens of ``text`` in order."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


@dataclass
class Vocab:
    """Words kept (most frequent first, ties alphabetical) with their corpus counts."""

    words: list[str]
    counts: np.ndarray  # (V,) int64, aligned with words

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @classmethod
    def build(cls, tokens: Iterable[str], min_count: int = 5, max_size: int = 0) -> Vocab:
        """Count ``tokens`` and keep words seen at least ``min_count`` times (the ``max_size`` most
        frequent when ``max_size`` > 0)."""
        if min_count < 1:
            raise UserError("min count must be at least 1")
        counts = Counter(tokens)
        kept = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
        if max_size > 0:
            kept = kept[:max_size]
        if not kept:
            most = max(counts.values()) if counts else 0
            raise UserError(f"no word occurs {min_count} times or more (the most frequent occurs {most} "
                            "times); lower the min count or use a larger corpus")
        return cls([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64))

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Ids of the tokens in the vocabulary, in order; out-of-vocabulary tokens are dropped (as
        word2vec does: they are not there, so windows close over them)."""
        index = self.index
        return np.fromiter((index[t] for t in tokens if t in index), dtype=np.int64)
