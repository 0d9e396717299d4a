"""What the Embeddings view's modules share: its sources, task names, limits, and the corpus counts of
the session model's tokens."""

from __future__ import annotations

import numpy as np

SOURCES = [("model-embedding", "Model: token embeddings W_E"), ("model-unembedding", "Model: unembedding W_U"),
           ("skip-gram", "Skip-gram vectors trained here"), ("file", "Vectors file / checkpoint")]
MODEL_MATRIX = {"model-embedding": "embedding", "model-unembedding": "unembedding"}
MAX_FRAMES = 300  # stored animation frames; beyond, every other one is dropped
DISAGREEMENT_K = 10
ANALOGY_ANSWERS = 10
FOLLOW_TIMEOUT_S = 5.0  # a follow job that failed (its error is in the status bar) no longer blocks the next
TSNE = "t-SNE"
WORD2VEC = "word2vec"


def model_counts(session) -> np.ndarray | None:  # type: ignore[no-untyped-def]
    """Corpus counts of the session model's tokens (engine thread), None when its corpus is not here."""
    counts = session.vocabulary_of(session.tokenizer, session.config.get("corpus") or session.corpus).counts
    return counts if counts.any() else None
