"""Questions to ask any embedding matrix: similarity, neighbours, analogies, standard evaluations.

Works on :class:`Vectors` from skip-gram, from a word2vec/GloVe text file, or from a transformer's token
embedding W_E or unembedding W_U (seed 003). Everything is cosine based (seed 002, Eq. 11.1:
S_C = u^T v / (|u| |v|)), computed as dot products of unit-length rows.

Analogies (Eq. 11.2: v_paris - v_france + v_italy ~ v_rome) are asked as "a - b + c": which word x is to c
as a is to b? Two standard scores, both over unit vectors and both with a, b and c themselves excluded
from the answers (otherwise the answer is nearly always one of the inputs, usually a or c):

* 3CosAdd (Mikolov et al. 2013): x = argmax cos(x, a) - cos(x, b) + cos(x, c), the nearest word to
  a - b + c in angle;
* 3CosMul (Levy & Goldberg 2014): x = argmax cos'(x, a) cos'(x, c) / (cos'(x, b) + eps) with
  cos' = (cos + 1) / 2 in [0, 1] and eps = 0.001; a multiplicative mix that keeps one large similarity
  from dominating.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.embeddings.vectors import Vectors, unit_rows
from engine.errors import UserError

COSMUL_EPS = 1e-3


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    """Eq. 11.1: u^T v / (|u| |v|) (0 when either vector is zero)."""
    nu, nv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
    if nu == 0 or nv == 0:
        return 0.0
    return float(np.dot(u, v) / (nu * nv))


def similarity(vectors: Vectors, a: str, b: str) -> float:
    return float(vectors.unit[vectors.id(a)] @ vectors.unit[vectors.id(b)])


def cosine_matrix(matrix: np.ndarray) -> np.ndarray:
    """All pairwise cosines of the rows of ``matrix``: (n, n)."""
    unit = unit_rows(matrix, np.float64)
    return unit @ unit.T


def positional_similarity(matrix: np.ndarray) -> np.ndarray:
    """Cosine of every pair of position vectors (rows of a learned W_P or a sinusoidal table): (T, T).

    For sinusoidal encodings the result depends (nearly) only on the distance |i - j|, a band pattern;
    learned encodings show how far the model has discovered that near positions are alike."""
    return cosine_matrix(matrix)


def top_indices(scores: np.ndarray, k: int, exclude: list[int]) -> list[int]:
    """Indices of the k highest scores, best first, leaving out ``exclude``."""
    scores = scores.copy()
    scores[exclude] = -np.inf
    k = min(k, len(scores) - len(set(exclude)))
    if k <= 0:
        return []
    part = np.argpartition(-scores, k - 1)[:k]
    return [int(i) for i in part[np.argsort(-scores[part], kind="stable")]]


def neighbours(vectors: Vectors, word: str, k: int = 10) -> list[tuple[str, float]]:
    """The k words of highest cosine with ``word`` (the word itself excluded)."""
    i = vectors.id(word)
    scores = vectors.unit @ vectors.unit[i]
    return [(vectors.words[j], float(scores[j])) for j in top_indices(scores, k, [i])]


def neighbours_of_vector(vectors: Vectors, v: np.ndarray, k: int = 10,
                         exclude: list[int] | None = None) -> list[tuple[str, float]]:
    n = float(np.linalg.norm(v))
    scores = vectors.unit @ (v / n if n > 0 else v)
    return [(vectors.words[j], float(scores[j])) for j in top_indices(scores, k, exclude or [])]


def analogy_scores(vectors: Vectors, a: int, b: int, c: int, method: str = "add") -> np.ndarray:
    """Scores of every word as the answer x to "a - b + c" (inputs not yet excluded)."""
    unit = vectors.unit
    ca, cb, cc = unit @ unit[a], unit @ unit[b], unit @ unit[c]
    if method == "add":
        return ca - cb + cc
    if method == "mul":
        return ((ca + 1) / 2) * ((cc + 1) / 2) / ((cb + 1) / 2 + COSMUL_EPS)
    raise UserError(f"unknown analogy method {method!r}; use add (3CosAdd) or mul (3CosMul)")


@dataclass
class Analogy:
    a: str
    b: str
    c: str
    method: str
    answers: list[tuple[str, float]]
    expected: str | None = None
    expected_rank: int | None = None  # 1 = top answer; None when no expected word or it is an input
    parallelogram: dict[str, list[float]] = field(default_factory=dict)


def analogy(vectors: Vectors, a: str, b: str, c: str, k: int = 5, method: str = "add",
            expected: str | None = None) -> Analogy:
    """Answers to a - b + c (e.g. paris - france + italy -> rome, Eq. 11.2) by 3CosAdd or 3CosMul,
    inputs excluded, with the rank of an ``expected`` answer among all candidates."""
    ia, ib, ic = vectors.id(a), vectors.id(b), vectors.id(c)
    scores = analogy_scores(vectors, ia, ib, ic, method)
    inputs = [ia, ib, ic]
    answers = [(vectors.words[j], float(scores[j])) for j in top_indices(scores, k, inputs)]
    rank = None
    if expected is not None:
        ie = vectors.id(expected)
        if ie not in inputs:
            s = scores.copy()
            s[inputs] = -np.inf
            rank = int((s > s[ie]).sum()) + 1
    return Analogy(a, b, c, method, answers, expected, rank)


def analogy_parallelogram(vectors: Vectors, a: str, b: str, c: str, d: str) -> dict[str, np.ndarray]:
    """The four unit vectors of a : b :: d : c and the target a - b + c, for drawing the parallelogram
    b -> a, c -> target (seen in a 2D/3D projection fitted to these five points with others)."""
    unit = vectors.unit
    pts = {w: unit[vectors.id(w)] for w in (a, b, c, d)}
    pts["a - b + c"] = pts[a] - pts[b] + pts[c]
    return pts


# --- evaluation sets -----------------------------------------------------------------------------


def _read_lines(path: str | Path, what: str) -> list[str]:
    from engine.corpus import read_text_file

    text = read_text_file(path, max_bytes=64 * 2**20)
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise UserError(f"{path} has no {what}")
    return lines


def read_similarity_file(path: str | Path) -> list[tuple[str, str, float]]:
    """Word pairs with a human score: ``word1 word2 score`` per line (tab or space separated, as
    wordsim353.tsv and simlex999.txt); ``#`` lines and a header line are skipped."""
    out: list[tuple[str, str, float]] = []
    for n, line in enumerate(_read_lines(path, "word pairs"), 1):
        parts = line.split("\t") if "\t" in line else line.split()
        parts = [p.strip() for p in parts if p.strip()]
        try:
            if len(parts) < 3:
                raise ValueError
            out.append((parts[0], parts[1], float(parts[2])))
        except ValueError:
            if n == 1:
                continue  # a header such as "Word 1  Word 2  Human (mean)"
            raise UserError(f"{path}: line {n} is not 'word1 word2 score': {line[:60]!r}") from None
    if not out:
        raise UserError(f"{path} has no word pairs")
    return out


def read_analogy_file(path: str | Path) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """Sections of ``a b c d`` questions (questions-words.txt: ``: section`` lines start a section;
    the question is a : b :: c : d, i.e. d = b - a + c)."""
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    for n, line in enumerate(_read_lines(path, "analogy questions"), 1):
        if line.startswith(":"):
            sections.append((line[1:].strip() or f"section {len(sections) + 1}", []))
            continue
        parts = line.split()
        if len(parts) != 4:
            raise UserError(f"{path}: line {n} is not 4 words 'a b c d': {line[:60]!r}")
        if not sections:
            sections.append(("all", []))
        sections[-1][1].append((parts[0], parts[1], parts[2], parts[3]))
    if not any(qs for _, qs in sections):
        raise UserError(f"{path} has no analogy questions")
    return sections


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties), as scipy.stats.spearmanr."""
    from scipy.stats import spearmanr

    if len(x) < 2:
        return float("nan")
    r = spearmanr(x, y).statistic
    return float(r)


def evaluate_similarity(vectors: Vectors, pairs: list[tuple[str, str, float]]) -> dict[str, float | int]:
    """Spearman correlation of cosine (Eq. 11.1) with human scores over the pairs whose two words are
    both known (lowercase fallback), and the coverage: the fraction of pairs that were known."""
    model, human = [], []
    for w1, w2, score in pairs:
        i, j = vectors.find(w1), vectors.find(w2)
        if i is None or j is None:
            continue
        model.append(float(vectors.unit[i] @ vectors.unit[j]))
        human.append(score)
    rho = spearman(np.array(model), np.array(human)) if len(model) >= 2 else float("nan")
    return {"spearman": None if math.isnan(rho) else rho, "pairs": len(pairs), "pairs_found": len(model),
            "similarity_coverage": len(model) / len(pairs)}


def evaluate_analogies(vectors: Vectors, sections: list[tuple[str, list[tuple[str, str, str, str]]]],
                       method: str = "add", restrict_vocab: int = 0,
                       batch: int = 256) -> dict[str, object]:
    """Accuracy and coverage on questions-words style analogies.

    A question a : b :: c : d counts when all four words are in the vocabulary (among the first
    ``restrict_vocab`` rows, if given; gensim uses 300,000); the answer is the best word for b - a + c
    with a, b, c excluded (3CosAdd or 3CosMul). ``analogy_accuracy`` = correct / covered,
    ``analogy_coverage`` = covered / all questions; accuracy alone hides how much was skipped."""
    vec = vectors.subset(restrict_vocab) if restrict_vocab and restrict_vocab < len(vectors) else vectors
    unit = vec.unit
    total = covered = correct = 0
    per_section = []
    for name, questions in sections:
        rows = []
        for q in questions:
            ids = [vec.find(w) for w in q]
            if all(i is not None for i in ids):
                rows.append(ids)
        total += len(questions)
        sec_correct = 0
        for s in range(0, len(rows), batch):  # a block of questions at a time: one matrix product
            ids = np.array(rows[s:s + batch], dtype=np.int64)  # (q, 4): a, b, c, d
            ca, cb, cc = (unit[ids[:, k]] @ unit.T for k in range(3))  # (q, V) each
            if method == "add":
                scores = cb - ca + cc
            elif method == "mul":
                scores = ((cb + 1) / 2) * ((cc + 1) / 2) / ((ca + 1) / 2 + COSMUL_EPS)
            else:
                raise UserError(f"unknown analogy method {method!r}; use add or mul")
            qi = np.arange(len(ids))
            for k in range(3):
                scores[qi, ids[:, k]] = -np.inf
            sec_correct += int((scores.argmax(1) == ids[:, 3]).sum())
        covered += len(rows)
        correct += sec_correct
        per_section.append({"section": name, "questions": len(questions), "covered": len(rows),
                            "correct": sec_correct})
    return {"analogy_accuracy": correct / covered if covered else None,
            "analogy_coverage": covered / total if total else 0.0,
            "analogy_questions": total, "analogy_covered": covered, "analogy_correct": correct,
            "sections": per_section}


# --- projection vs original space --------------------------------------------------------------


def knn_cosine(matrix: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
    """Indices (n, k) of each row's k nearest rows by cosine, itself excluded (blocked: O(block n) memory)."""
    unit = unit_rows(matrix, np.float32)
    return _knn(unit, k, block, lambda rows: rows @ unit.T)


def knn_euclidean(points: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    sq = (p * p).sum(1)
    return _knn(p, k, block, lambda rows: 2 * rows @ p.T - (rows * rows).sum(1, keepdims=True) - sq)


def _knn(x: np.ndarray, k: int, block: int, score) -> np.ndarray:  # type: ignore[no-untyped-def]
    n = len(x)
    k = min(k, n - 1)
    out = np.zeros((n, k), dtype=np.int64)
    for s in range(0, n, block):
        sc = score(x[s:s + block])  # higher = nearer
        sc[np.arange(len(sc)), np.arange(s, s + len(sc))] = -np.inf
        part = np.argpartition(-sc, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sc, part, 1), axis=1, kind="stable")
        out[s:s + block] = np.take_along_axis(part, order, 1)
    return out


def projection_neighbours_disagreement(matrix: np.ndarray, coords: np.ndarray, k: int = 10) -> dict[str, np.ndarray]:
    """How much a 2D/3D projection misrepresents neighbourhoods: for each point, its k nearest
    neighbours by cosine in the original space vs by distance in the projection.

    Returns ``original`` (n, k) and ``projected`` (n, k) neighbour indices and ``disagreement`` (n,):
    the fraction of original neighbours missing from the projected ones (0 = faithful, 1 = none kept)."""
    if len(matrix) != len(coords):
        raise UserError(f"{len(matrix)} vectors but {len(coords)} projected points")
    orig = knn_cosine(matrix, k)
    proj = knn_euclidean(coords, k)
    kk = orig.shape[1]
    overlap = np.array([len(set(o) & set(p)) for o, p in zip(orig.tolist(), proj.tolist(), strict=True)])
    return {"original": orig, "projected": proj, "disagreement": 1.0 - overlap / max(kk, 1)}
