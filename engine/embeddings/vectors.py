"""An embedding matrix with its words: what every analysis, projection and file format works on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.errors import UserError


@dataclass
class Vectors:
    """Row i of ``matrix`` is the vector v_w of ``words[i]`` (seed 002, section 11.1).

    Works for skip-gram vectors as for a transformer's token embeddings (rows of W_E) or unembeddings
    (rows of W_U; seed 003: "the transpose of the embedding matrix, referred to as the unembedding").
    """

    words: list[str]
    matrix: np.ndarray  # (V, d) float32
    source: str = ""
    _unit: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.matrix = np.ascontiguousarray(self.matrix, dtype=np.float32)
        if self.matrix.ndim != 2 or self.matrix.shape[0] != len(self.words):
            raise UserError(f"{len(self.words)} words but a matrix of shape {tuple(self.matrix.shape)}")
        self.index: dict[str, int] = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)  # first occurrence wins, as in gensim

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def unit(self) -> np.ndarray:
        """Rows scaled to length 1 (zero rows stay zero), so a dot product is the cosine of Eq. 11.1."""
        if self._unit is None:
            self._unit = unit_rows(self.matrix)
        return self._unit

    def find(self, word: str) -> int | None:
        """Index of ``word``; falls back to its lowercase form (evaluation sets mix cases)."""
        i = self.index.get(word)
        if i is None:
            i = self.index.get(word.lower())
        return i

    def id(self, word: str) -> int:
        """Index of ``word`` or a UserError naming it."""
        i = self.find(word)
        if i is None:
            raise UserError(f"{word!r} is not in the vocabulary of {self.source or 'these vectors'} "
                            f"({len(self.words)} words)")
        return i

    def subset(self, n: int) -> Vectors:
        """The first ``n`` rows (files and our training keep the most frequent words first)."""
        return Vectors(self.words[:n], self.matrix[:n], self.source)


def unit_rows(matrix: np.ndarray, dtype: type | None = None) -> np.ndarray:
    """Rows scaled to length 1, zero rows left zero (cosine = dot product of unit rows, Eq. 11.1)."""
    m = np.asarray(matrix, dtype=dtype)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)
