"""What the Embeddings view's modules share: its sources, task names, limits, and the corpus counts of
the session model's tokens."""

from __future__ import annotations

import numpy as np

from engine.embeddings.explore import corpus_counts
from engine.tokenstats import Vocabulary

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
    """Corpus counts of the session model's tokens (engine thread), cached like the Tokens view's."""
    tok = session.tokenizer
    key = id(tok)
    if key not in session.vocab_cache:
        counts = corpus_counts(tok, session.config.get("corpus") or session.corpus)
        if counts is None:
            return None
        session.vocab_cache[key] = Vocabulary([tok.token_text(i) for i in range(tok.vocab_size)], counts)
    counts = session.vocab_cache[key].counts
    return counts if counts.any() else None
