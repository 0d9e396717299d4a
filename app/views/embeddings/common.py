"""What the Embeddings view's modules share: its sources, task names and limits."""

from __future__ import annotations

SOURCES = [("model-embedding", "Model: token embeddings W_E"), ("model-unembedding", "Model: unembedding W_U"),
           ("skip-gram", "Skip-gram vectors trained here"), ("file", "Vectors file / checkpoint")]
MODEL_MATRIX = {"model-embedding": "embedding", "model-unembedding": "unembedding"}
MAX_FRAMES = 300  # stored animation frames; beyond, every other one is dropped
DISAGREEMENT_K = 10
ANALOGY_ANSWERS = 10
FOLLOW_TIMEOUT_S = 5.0  # a follow job that never answered no longer blocks the next
TSNE = "t-SNE"
WORD2VEC = "word2vec"
