"""Cosine, neighbours, 3CosAdd/3CosMul and the standard evaluations on constructed vectors."""

import numpy as np
import pytest

from engine.embeddings.analysis import (
    analogy,
    analogy_parallelogram,
    cosine,
    evaluate_analogies,
    evaluate_similarity,
    neighbours,
    positional_similarity,
    projection_neighbours_disagreement,
    read_analogy_file,
    read_similarity_file,
    similarity,
)
from engine.embeddings.vectors import Vectors
from engine.errors import UserError
from engine.model import sinusoidal_positions


def capitals() -> Vectors:
    """country = base + 'country' axis, capital = base + 'capital' axis: paris - france + italy = rome
    holds exactly, and a decoy near italy tests that inputs are excluded."""
    rng = np.random.default_rng(0)
    d = 12
    words, rows = [], []
    capital_axis, country_axis = np.eye(d)[0] * 2, np.eye(d)[1] * 2
    for country, city in [("france", "paris"), ("italy", "rome"), ("spain", "madrid"), ("japan", "tokyo")]:
        base = rng.normal(size=d)
        base[:2] = 0
        words += [country, city]
        rows += [base + country_axis, base + capital_axis]
    words.append("decoy")
    rows.append(rows[words.index("italy")] + 0.01)
    return Vectors(words, np.array(rows))


def test_cosine_eq_11_1():
    assert cosine(np.array([1.0, 0]), np.array([2.0, 0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0]), np.array([0, 3.0])) == pytest.approx(0.0)
    assert cosine(np.array([1.0, 1]), np.array([-1.0, -1])) == pytest.approx(-1.0)
    assert cosine(np.zeros(2), np.ones(2)) == 0.0


def test_neighbours_exclude_the_word_and_sort():
    vec = capitals()
    nb = neighbours(vec, "italy", 3)
    assert nb[0][0] == "decoy" and "italy" not in [w for w, _ in nb]
    assert [s for _, s in nb] == sorted([s for _, s in nb], reverse=True)
    assert similarity(vec, "italy", "decoy") == pytest.approx(nb[0][1])
    with pytest.raises(UserError, match="not in the vocabulary"):
        neighbours(vec, "atlantis")


@pytest.mark.parametrize("method", ["add", "mul"])
def test_analogy_finds_rome_with_inputs_excluded(method):
    vec = capitals()
    res = analogy(vec, "paris", "france", "italy", k=3, method=method, expected="rome")
    assert res.answers[0][0] == "rome" and res.expected_rank == 1
    assert not {"paris", "france", "italy"} & {w for w, _ in res.answers}
    # the rank of a worse answer is reported too
    assert analogy(vec, "paris", "france", "italy", method=method, expected="tokyo").expected_rank > 1


def test_analogy_parallelogram_points():
    pts = analogy_parallelogram(capitals(), "paris", "france", "italy", "rome")
    assert set(pts) == {"paris", "france", "italy", "rome", "a - b + c"}


def test_similarity_file_spearman_and_coverage(tmp_path):
    f = tmp_path / "sim.tsv"
    f.write_text("# comment\nWord 1\tWord 2\tHuman (mean)\nparis\trome\t9\nparis\tfrance\t7\n"
                 "paris\ttokyo\t5\nfrance\tatlantis\t3\n", encoding="utf-8")
    pairs = read_similarity_file(f)
    assert len(pairs) == 4
    vec = capitals()
    res = evaluate_similarity(vec, pairs)
    assert res["pairs_found"] == 3 and res["similarity_coverage"] == pytest.approx(0.75)
    sims = [similarity(vec, "paris", w) for w in ("rome", "france", "tokyo")]
    expected = np.corrcoef(np.argsort(np.argsort(sims)), [2, 1, 0])[0, 1]
    assert res["spearman"] == pytest.approx(expected)


def test_analogy_file_accuracy_and_coverage(tmp_path):
    f = tmp_path / "q.txt"
    f.write_text(": capital-world\nFrance Paris Italy Rome\nFrance Paris Spain Madrid\n"
                 "France Paris Atlantis Poseidonia\n: wrong\nParis France Rome Tokyo\n", encoding="utf-8")
    sections = read_analogy_file(f)
    assert [s for s, _ in sections] == ["capital-world", "wrong"]
    res = evaluate_analogies(capitals(), sections)
    assert res["analogy_questions"] == 4 and res["analogy_covered"] == 3
    assert res["analogy_coverage"] == pytest.approx(0.75)
    assert res["analogy_accuracy"] == pytest.approx(2 / 3)  # the "wrong" section's answer is italy
    mul = evaluate_analogies(capitals(), sections, method="mul")
    assert mul["analogy_correct"] == 2


def test_bad_evaluation_files(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_text(": s\na b c\n", encoding="utf-8")
    with pytest.raises(UserError, match="4 words"):
        read_analogy_file(f)
    g = tmp_path / "bad.tsv"
    g.write_text("a\tb\t1\nc\td\tlots\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 2"):
        read_similarity_file(g)


def test_positional_similarity_of_sinusoidal_encodings_is_banded():
    sims = positional_similarity(sinusoidal_positions(32, 16).numpy())
    assert sims.shape == (32, 32)
    np.testing.assert_allclose(np.diag(sims), 1.0, atol=1e-6)
    # sinusoidal: the cosine depends only on the offset, so the diagonals are constant
    for off in (1, 5):
        diag = np.diag(sims, off)
        assert diag.std() < 1e-5
    assert sims[0, 1] > sims[0, 8]


def test_projection_neighbour_disagreement():
    rng = np.random.default_rng(0)
    # points on a half circle: cosine order in the plane = distance order, so a faithful "projection"
    angles = rng.uniform(0, np.pi, 60)
    circle = np.c_[np.cos(angles), np.sin(angles)]
    exact = projection_neighbours_disagreement(circle * rng.uniform(1, 3, (60, 1)), circle, k=4)
    assert exact["original"].shape == (60, 4) and exact["disagreement"].shape == (60,)
    assert exact["disagreement"].max() == 0.0
    shuffled = projection_neighbours_disagreement(circle, rng.permutation(circle), k=4)
    assert shuffled["disagreement"].mean() > 0.6
