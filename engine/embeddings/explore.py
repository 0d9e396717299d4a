"""What the Embeddings view explores, computed headlessly: a vocabulary's vectors with their corpus counts,
2-D and 3-D layouts of them, a word's neighbours before and after projecting, clusters, the skip-gram training
animation and the positional-encoding similarity matrices.

Every question is asked with cosine similarity (seed 002, Eq. 11.1: S_C = u^T v / (|u| |v|)). A layout
only shows a shadow of the d-dimensional space: :func:`compare_neighbours` puts a word's k nearest
words by cosine in the original space next to its k nearest points on the screen, so the difference
(what the projection got wrong around that word) is visible.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine.embeddings.analysis import positional_similarity, top_indices
from engine.embeddings.projection import (
    ProjectionConfig,
    explained_variance,
    pca_with_variance,
    procrustes_align,
    project,
)
from engine.embeddings.vectors import Vectors, unit_rows
from engine.errors import UserError
from engine.events import Event, Finished, Snapshot, Started
from engine.tasks import CancelToken
from engine.validate import check_memory

FRAMES_PER_EPOCH = 20  # snapshots per skip-gram epoch for the animation


@dataclass
class Space:
    """A vocabulary's vectors, most frequent word first, with their corpus counts.

    ``ids`` maps each row back to where it came from (the token id of a transformer, the line of a vectors
    file). ``counts`` is None when the frequencies are unknown (a vectors file, which lists the most
    frequent words first by convention, so the row order stands in for frequency)."""

    vectors: Vectors
    counts: np.ndarray | None
    ids: np.ndarray
    kind: str  # "model" | "skip-gram" | "file"
    note: str = ""

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def words(self) -> list[str]:
        return self.vectors.words

    def top(self, n: int, extra: list[int] | tuple[int, ...] = ()) -> Space:
        """The ``n`` most frequent words, and after them the rows ``extra`` (words searched for in a large
        vocabulary) that are not among them."""
        n = max(0, min(n, len(self)))
        rows = list(range(n)) + [i for i in dict.fromkeys(extra) if n <= i < len(self)]
        if len(rows) == n:
            counts = None if self.counts is None else self.counts[:n]
            return Space(self.vectors.subset(n), counts, self.ids[:n], self.kind, self.note)
        vec = Vectors([self.vectors.words[i] for i in rows], self.vectors.matrix[rows], self.vectors.source)
        counts = None if self.counts is None else self.counts[rows]
        return Space(vec, counts, self.ids[rows], self.kind, self.note)

    def find(self, text: str) -> int | None:
        """The row of a word as the user types it: exactly, lowercased, or (a model's tokens carry their
        leading space) with a space before it."""
        for candidate in (text, " " + text, "\u0120" + text):
            row = self.vectors.find(candidate)
            if row is not None:
                return row
        return None


def frequency_order(vectors: Vectors, counts: np.ndarray | None, kind: str, note: str = "") -> Space:
    """Rows sorted by count, most frequent first (ties keep their order); unchanged without counts."""
    if counts is None:
        return Space(vectors, None, np.arange(len(vectors)), kind, note)
    order = np.argsort(-np.asarray(counts), kind="stable")
    words = [vectors.words[i] for i in order]
    return Space(Vectors(words, vectors.matrix[order], vectors.source), np.asarray(counts)[order], order,
                 kind, note)


def space_from_model(model, tokenizer, matrix: str = "embedding", counts: np.ndarray | None = None,  # type: ignore[no-untyped-def]
                     source: str = "") -> Space:
    """The token vectors of a transformer (W_E or W_U) ordered by ``counts``, how often each token id
    occurs in its training corpus (None: unknown, token order is kept)."""
    from engine.embeddings.io import model_vectors

    vec = model_vectors(model, tokenizer, matrix, source)
    note = ""
    if matrix == "unembedding" and model.cfg.tied:
        note = "tied weights: the unembedding W_U is the embedding W_E transposed, so the vectors are the same"
    return frequency_order(vec, counts, "model", note)


def corpus_counts(tokenizer, corpus: str) -> np.ndarray | None:  # type: ignore[no-untyped-def]
    """How often each token id occurs in ``corpus`` (None when that corpus is not on this machine)."""
    from engine.corpus import load_corpus
    from engine.tokenstats import vocabulary

    try:
        return vocabulary(tokenizer, load_corpus(corpus).text).counts
    except UserError:
        return None


def space_from_file(path: str, matrix: str = "embedding") -> Space:
    """A word2vec/GloVe text file (row order = frequency order), or a checkpoint folder (its token
    vectors, counted on its training corpus when that corpus is on this machine)."""
    from pathlib import Path

    from engine.embeddings.io import load_vectors

    p = Path(path)
    if (p.is_dir() and (p / "config.json").is_file()) or p.suffix.lower() == ".gguf":
        from engine.models import open_model

        loaded = open_model(p)
        counts = corpus_counts(loaded.tokenizer, loaded.config.get("corpus") or "shakespeare")
        return space_from_model(loaded.model, loaded.tokenizer, matrix, counts, f"{loaded.path} ({matrix})")
    return frequency_order(load_vectors(p, matrix), None, "file")


# --- layouts -----------------------------------------------------------------------------------


@dataclass(eq=False)
class Frame:
    """One 2-D or 3-D layout of the vectors of the shown words (a still, or one moment of training);
    compared and hashed by identity (a frame is one moment, not its numbers)."""

    coords: np.ndarray  # (n, 2) or (n, 3) float32
    vectors: np.ndarray  # (n, d) float32: the vectors that were projected
    method: str  # "pca" | "tsne"
    step: int | None = None  # training step (batches) for animation frames
    epoch: int | None = None
    fraction: float | None = None  # of the training run, 0..1
    explained: list[float] = field(default_factory=list)  # PCA: variance fraction on each axis
    seconds: float = 0.0

    @property
    def dims(self) -> int:
        return int(self.coords.shape[1])


def aligned_pca(vectors: np.ndarray, previous: np.ndarray | None = None,
                dims: int = 2) -> tuple[np.ndarray, list[float]]:
    """PCA to ``dims`` (2 or 3) axes scaled to unit root-mean-square radius, then rotated (or reflected) by
    Procrustes onto ``previous`` (same words, same dims) when given, so an animation of a space being
    learned neither spins nor jumps between frames, and keeps its size while the vectors grow from their
    tiny initial values."""
    coords32, explained = pca_with_variance(vectors, dims)
    coords = coords32.astype(np.float64)
    rms = float(np.sqrt((coords**2).sum(1).mean()))
    coords = coords / rms if rms > 0 else coords
    if previous is not None and np.shape(previous) == coords.shape:
        coords = procrustes_align(previous, coords, scale=False)
    return coords.astype(np.float32), explained


def reproject_frames(frames: list[Frame], dims: int) -> list[Frame]:
    """The same PCA frames in ``dims`` (2 or 3) dimensions: a still is projected again, an animation's
    frames again aligned each to the one before (Procrustes works in any dimension). A t-SNE frame
    cannot be re-projected (it is not a map of the vectors): run t-SNE again."""
    if dims not in (2, 3):
        raise UserError("a projection has 2 or 3 dimensions")
    out: list[Frame] = []
    previous: np.ndarray | None = None
    for f in frames:
        if f.method != "pca":
            raise UserError("only PCA layouts can be re-projected; run t-SNE again in the new dimensions")
        if f.step is None:
            coords, explained = pca_with_variance(f.vectors, dims)
        else:
            coords, explained = aligned_pca(f.vectors, previous, dims)
            previous = coords
        out.append(replace(f, coords=coords, explained=explained))
    return out


def layout_events(vectors: np.ndarray, cfg: ProjectionConfig, token: CancelToken | None = None) -> Iterator[Event]:
    """:func:`engine.embeddings.projection.project` as a task whose Finished carries a :class:`Frame`
    (``result`` None when cancelled: a half-optimised t-SNE is not a picture to keep)."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    for event in project(x, cfg, token):
        if isinstance(event, Finished):
            done = event.result
            if done.stopped:
                yield Finished(event.summary, True, None)
                return
            explained = explained_variance(x, cfg.dims) if cfg.method == "pca" else []
            yield Finished(event.summary, False, Frame(done.coords, x, cfg.method, explained=explained,
                                                       seconds=done.seconds))
        else:
            yield event


def layout(vectors: np.ndarray, cfg: ProjectionConfig) -> Frame:
    """A finished layout (PCA, or t-SNE run to the end)."""
    frame = None
    for event in layout_events(vectors, cfg):
        if isinstance(event, Finished):
            frame = event.result
    assert frame is not None
    return frame


def place_points(vectors: np.ndarray, coords: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Where ``new`` vectors fall in a *linear* layout of ``vectors`` (PCA, also after Procrustes): the
    least-squares affine map from the d-dim vectors to their 2-D or 3-D coordinates, applied to ``new``.

    Exact for PCA: its axes lie in the row space of the centred vectors, where the minimum-norm
    least-squares solution is unique. Meaningless for t-SNE, which is not a map of the space."""
    x = np.asarray(vectors, np.float64)
    c = np.asarray(coords, np.float64)
    mx, mc = x.mean(0), c.mean(0)
    w = np.linalg.lstsq(x - mx, c - mc, rcond=None)[0]
    return ((np.atleast_2d(np.asarray(new, np.float64)) - mx) @ w + mc).astype(np.float32)


# --- neighbours before and after projecting --------------------------------------------------------


@dataclass
class NeighbourComparison:
    """A word's k nearest words by cosine in the d-dim space (Eq. 11.1) and by distance on the screen."""

    index: int
    original: list[tuple[int, float]]  # (row, cosine), best first
    projected: list[tuple[int, float]]  # (row, distance in the layout), nearest first

    @property
    def only_original(self) -> set[int]:
        """True neighbours the projection put elsewhere."""
        return {j for j, _ in self.original} - {j for j, _ in self.projected}

    @property
    def only_projected(self) -> set[int]:
        """Words that only look near on the screen."""
        return {j for j, _ in self.projected} - {j for j, _ in self.original}

    @property
    def kept(self) -> float:
        """Fraction of the true neighbours that are also screen neighbours (1 = faithful)."""
        return 1.0 - len(self.only_original) / max(len(self.original), 1)


def compare_neighbours(vectors: np.ndarray, coords: np.ndarray, index: int, k: int = 10) -> NeighbourComparison:
    """Neighbours of row ``index`` among the shown rows: by cosine in the original space and by
    Euclidean distance in the layout (itself excluded from both)."""
    if len(vectors) != len(coords):
        raise UserError(f"{len(vectors)} vectors but {len(coords)} points")
    unit = unit_rows(vectors, np.float32)
    cos = unit @ unit[index]
    original = [(j, float(cos[j])) for j in top_indices(cos, k, [index])]
    dist = np.linalg.norm(np.asarray(coords, np.float64) - np.asarray(coords[index], np.float64), axis=1)
    projected = [(j, float(dist[j])) for j in top_indices(-dist, k, [index])]
    return NeighbourComparison(index, original, projected)


def kmeans_labels(vectors: np.ndarray, k: int, seed: int = 1) -> np.ndarray:
    """Cluster labels of the rows by k-means on unit vectors (so by direction, i.e. cosine), with
    k-means++ seeding fixed by ``seed``; label 0 is the largest cluster."""
    from scipy.cluster.vq import kmeans2

    n = len(vectors)
    if not 1 <= k <= n:
        raise UserError(f"need between 1 and {n} clusters for {n} words, got {k}")
    unit = unit_rows(vectors, np.float32).astype(np.float64)
    _, labels = kmeans2(unit, k, minit="++", seed=np.random.default_rng(seed))
    sizes = np.bincount(labels, minlength=k)
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(k)
    return rank[labels]


# --- the skip-gram training animation ------------------------------------------------------------


@dataclass
class SkipGramStart:
    """The Started info of :func:`skipgram_animation`."""

    words: list[str]  # the vocabulary, most frequent first
    counts: np.ndarray
    tokens: int  # corpus tokens in the vocabulary
    shown: int  # the most frequent words that the frames hold
    snapshot_every: int  # batches between frames


def snapshot_interval(counts: np.ndarray, tokens: int, window: int, batch: int, sample: float,
                      frames_per_epoch: int = FRAMES_PER_EPOCH) -> int:
    """Batches between snapshots for about ``frames_per_epoch`` frames an epoch: kept tokens (after
    subsampling) times the mean number of context words, c + 1 with word2vec's reduced window."""
    from engine.embeddings.word2vec import keep_probabilities

    keep = keep_probabilities(counts, sample)
    kept = float((keep * counts).sum()) / max(float(counts.sum()), 1.0) * tokens
    batches = kept * (window + 1) / batch
    return max(1, int(round(batches / frames_per_epoch)))


def skipgram_animation(text: str, cfg: Any, shown: int, token: CancelToken | None = None,
                       frames_per_epoch: int = FRAMES_PER_EPOCH, dims: int = 2) -> Iterator[Event]:
    """Train skip-gram (Eq. 11.3-11.5) on ``text`` and yield what an animation needs (engine.events): a
    Started with a :class:`SkipGramStart`, then word2vec's Progress and Evaluation events and a Snapshot
    per frame (its data a :class:`Frame`: PCA of the ``shown`` most frequent words to ``dims`` axes, each
    aligned by Procrustes to the one before), and last a Finished whose result is the :class:`Space` of
    all the vectors (also after a stop)."""
    from engine.embeddings.word2vec import SkipGram, prepare

    vocab, ids = prepare(text, cfg)
    n = max(1, min(shown, len(vocab)))
    every = snapshot_interval(vocab.counts, len(ids), cfg.window, cfg.batch, cfg.sample, frames_per_epoch)
    cfg = replace(cfg, snapshot_words=n, snapshot_every=every)
    model = SkipGram(vocab, ids, cfg)
    yield Started(SkipGramStart(list(vocab.words), vocab.counts.copy(), len(ids), n, every))
    previous: np.ndarray | None = None
    last_step = -1
    summary: dict[str, Any] = {}

    def frame(step: int, epoch: int, fraction: float, vectors: np.ndarray) -> Snapshot:
        nonlocal previous, last_step
        coords, explained = aligned_pca(vectors, previous, dims)
        previous, last_step = coords, step
        return Snapshot(step, Frame(coords, vectors, "pca", step, epoch, fraction, explained), keep_all=True)

    for event in model.run(token):
        if isinstance(event, Snapshot):
            snap = event.data
            yield frame(event.step, snap.epoch, snap.fraction, snap.vectors)
        elif isinstance(event, Finished):
            summary = event.summary
        else:
            yield event
    if model.step != last_step:  # a stop mid-epoch: the vectors as they were left
        yield frame(model.step, model.epoch, model.epoch / cfg.epochs, model.w_in[:n].numpy().copy())
    space = Space(model.vectors(f"skip-gram, {cfg.dim} dims"), vocab.counts.copy(), np.arange(len(vocab)),
                  "skip-gram")
    stopped = bool(summary.get("stopped"))
    yield Finished(summary, stopped, space)


# --- positional encodings -------------------------------------------------------------------------


@dataclass
class PositionalSimilarity:
    """Cosine of every pair of position vectors, (T, T), for a model's positions and for the sinusoidal
    table of the same T and d."""

    model: np.ndarray
    sinusoidal: np.ndarray
    kind: str  # the model's positions: "learned" | "sinusoidal"
    d: int

    @property
    def T(self) -> int:  # noqa: N802
        return int(self.model.shape[0])


def positional_similarities(model) -> PositionalSimilarity:  # type: ignore[no-untyped-def]
    from engine.embeddings.io import positional_matrix
    from engine.model import sinusoidal_positions

    pos, kind = positional_matrix(model)
    T, d = pos.shape
    check_memory(6 * 8 * T * T, f"the {T:,} x {T:,} cosine matrices")  # float64 work, float32 results
    sin = sinusoidal_positions(T, d).numpy()
    return PositionalSimilarity(positional_similarity(pos).astype(np.float32),
                                positional_similarity(sin).astype(np.float32), kind, int(d))


def mean_by_offset(sim: np.ndarray) -> np.ndarray:
    """Mean cosine of position pairs a distance k apart, k = 0..T-1 (the diagonals of the matrix)."""
    T = len(sim)
    return np.array([float(np.diagonal(sim, k).mean()) for k in range(T)])
