"""Sentence embeddings (engine.similarity) against transformers' BERT with sentence-transformers' pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import UserError

SENTENCES = ["The cat sits on the mat.", "A feline rests on a rug.", "Stock markets fell sharply today.",
             "To be, or not to be: that is the question."]


@pytest.fixture(scope="module")
def minilm():
    from engine.models import open_model

    try:
        return open_model("minilm")
    except UserError as e:
        pytest.skip(str(e))


def test_embed_matches_transformers_mean_pooling(minilm) -> None:
    from bench.transformers_ref import import_transformers
    from engine.similarity import embed

    transformers = import_transformers()

    path = str(minilm.path)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    ref = transformers.AutoModel.from_pretrained(path).eval()
    batch = tok(SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        h = ref(**batch).last_hidden_state  # (N, T, d)
    m = batch["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1).numpy()
    got = embed(minilm, SENTENCES)
    assert got.shape == (4, 384)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_similarity_matrix_is_a_cosine_matrix(minilm) -> None:
    from engine.similarity import similarity_matrix

    s = similarity_matrix(minilm, SENTENCES)
    assert s.shape == (4, 4)
    np.testing.assert_allclose(np.diag(s), 1.0, atol=1e-5)
    np.testing.assert_allclose(s, s.T, atol=1e-6)
    assert s[0, 1] > s[0, 2] + 0.2  # the cat and the feline are closer than the cat and the markets


def test_nearest_lines_are_sorted_and_cached(minilm) -> None:
    from engine import similarity

    got = similarity.nearest_lines(minilm, "my kingdom for a horse", k=3, limit=60)
    assert len(got) == 3 and [c for _, _, c in got] == sorted((c for _, _, c in got), reverse=True)
    assert all(isinstance(line, str) and len(line) >= 20 and play for line, play, _ in got)
    assert any(key[2] == 60 for key in similarity._CORPUS_CACHE)
    assert similarity.nearest_lines(minilm, "my kingdom for a horse", k=3, limit=60) == got
    with pytest.raises(UserError):
        similarity.embed(minilm, [])
