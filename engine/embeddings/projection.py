"""Projections of embedding matrices to 2D/3D: PCA and t-SNE, as cancellable generators; Procrustes
alignment of successive projections; CSV export.

A projection only shows a shadow of a d-dimensional space: cosine neighbours (Eq. 11.1 of seed 002) in
the original space need not be neighbours on the screen, which is what
:func:`engine.embeddings.analysis.projection_neighbours_disagreement` measures.

* PCA: the top principal axes of the centred matrix (SVD); deterministic, with each axis' sign fixed so
  its largest loading is positive (so the picture does not flip between runs).
* t-SNE (van der Maaten & Hinton 2008) through openTSNE (Barnes-Hut below 10,000 points, FFT-accelerated
  interpolation from there, Linderman et al. 2019, so 10,000 points run without sampling): perplexity-based
  affinities on cosine distance, PCA initialisation, early exaggeration then the normal phase. Run in
  slices of iterations so the caller sees progress and intermediate layouts, and can pause or cancel
  between slices.
* Procrustes: the rotation (and optionally uniform scale) plus translation that best maps a new layout
  onto the previous one in least squares; applied to successive snapshots while skip-gram trains, so a
  point moves only as much as its neighbourhood really changed, not because the whole picture spun.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.embeddings.vectors import unit_rows
from engine.errors import UserError
from engine.events import Event, Finished, Progress
from engine.files import atomic_write
from engine.tasks import CancelToken

METHODS = ("pca", "tsne")


@dataclass
class ProjectionConfig:
    """Everything is fixed before the run starts (the GUI greys these out while it runs)."""

    method: str = "tsne"
    dims: int = 2
    seed: int = 1
    perplexity: float = 30.0
    iterations: int = 750  # total t-SNE iterations, early exaggeration included
    early_iterations: int = 250
    exaggeration: float = 12.0
    metric: str = "cosine"
    n_jobs: int = 1
    slice_iterations: int = 50  # iterations between progress events (and cancel checks)
    initial: np.ndarray | None = field(default=None, repr=False)  # start layout (e.g. previous frame)

    def validate(self, n: int) -> None:
        if self.method not in METHODS:
            raise UserError(f"unknown projection {self.method!r}; use {' or '.join(METHODS)}")
        if self.dims not in (2, 3):
            raise UserError("a projection has 2 or 3 dimensions")
        if n < self.dims + 1:
            raise UserError(f"need at least {self.dims + 1} points to project, got {n}")
        if self.method == "tsne":
            if not 1 <= self.perplexity < n:
                raise UserError(f"perplexity must be at least 1 and below the number of points ({n})")
            if self.iterations < 1 or not 0 <= self.early_iterations <= self.iterations:
                raise UserError("need iterations >= 1 and 0 <= early iterations <= iterations")
        if self.initial is not None and np.shape(self.initial) != (n, self.dims):
            raise UserError(f"the initial layout must be ({n}, {self.dims})")


@dataclass
class Layout:
    """A finished projection: what :func:`project`'s Finished event carries as its ``result``."""

    coords: np.ndarray  # (n, dims) float32
    method: str
    seconds: float
    stopped: bool = False  # cancelled: the layout as far as it got


def pca_with_variance(matrix: np.ndarray, dims: int = 2) -> tuple[np.ndarray, list[float]]:
    """Coordinates on the top ``dims`` principal axes of the centred rows, and the fraction of the total
    variance on each axis (one SVD for both: an animation frame needs both)."""
    x = np.asarray(matrix, dtype=np.float64)
    x = x - x.mean(0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    axes = vt[:dims]
    # deterministic signs: the largest-magnitude loading of each axis is positive
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(1)])
    axes = axes * np.where(signs == 0, 1, signs)[:, None]
    coords = x @ axes.T
    if coords.shape[1] < dims:  # fewer features than dims: pad with zeros
        coords = np.pad(coords, ((0, 0), (0, dims - coords.shape[1])))
    var = s**2
    explained = [float(v) for v in (var[:dims] / var.sum() if var.sum() > 0 else np.zeros(dims))]
    return coords.astype(np.float32), explained


def pca(matrix: np.ndarray, dims: int = 2) -> np.ndarray:
    """Coordinates on the top ``dims`` principal axes of the centred rows."""
    return pca_with_variance(matrix, dims)[0]


def explained_variance(matrix: np.ndarray, dims: int = 2) -> list[float]:
    """Fraction of the total variance on each of the top ``dims`` principal axes."""
    return pca_with_variance(matrix, dims)[1]


def project(matrix: np.ndarray, cfg: ProjectionConfig, token: CancelToken | None = None) -> Iterator[Event]:
    """Project the rows of ``matrix`` (engine.events): t-SNE yields a Progress after every slice of
    iterations (metrics: kl_divergence), and every projection ends in a Finished whose result is the
    :class:`Layout`. On cancel, stops at the next slice with the layout so far and ``stopped=True``;
    blocks between slices while paused."""
    x = np.asarray(matrix, dtype=np.float32)
    if x.ndim != 2:
        raise UserError("need a 2-D matrix of vectors to project")
    cfg.validate(len(x))
    token = token or CancelToken()
    t0 = time.perf_counter()
    if cfg.method == "pca":
        yield _finished(Layout(pca(x, cfg.dims), "pca", time.perf_counter() - t0))
        return
    yield from _tsne(x, cfg, token, t0)


def _finished(layout: Layout) -> Finished:
    return Finished({"method": layout.method, "seconds": layout.seconds}, layout.stopped, layout)


def _tsne(x: np.ndarray, cfg: ProjectionConfig, token: CancelToken, t0: float) -> Iterator[Event]:
    try:
        from openTSNE import TSNE  # optional at import time: only t-SNE needs it
    except ImportError:
        raise UserError("t-SNE needs the openTSNE package (pip install openTSNE); PCA works without it") from None

    # openTSNE's own rule: Barnes-Hut below 10,000 points (on 76 points it is ~30x faster than FFT, whose
    # grid costs the same whatever n), FFT interpolation above (1-2 dimensions only; BH handles 3)
    method = "fft" if cfg.dims <= 2 and len(x) >= 10_000 else "bh"
    x = x.astype(np.float64)
    if cfg.metric == "cosine":  # cosine distance = euclidean on unit vectors (up to a monotone map)
        x = unit_rows(x)
    if cfg.initial is not None:
        init = np.asarray(cfg.initial, dtype=np.float64)
        # openTSNE expects a small-scale start (std 1e-4 of the first axis) for stable optimisation
        init = (init - init.mean(0)) / max(float(init[:, 0].std()), 1e-12) * 1e-4
    else:
        init = "pca"
    tsne = TSNE(n_components=cfg.dims, perplexity=cfg.perplexity, metric="euclidean", n_jobs=cfg.n_jobs,
                random_state=cfg.seed, negative_gradient_method=method, initialization=init, verbose=False)
    embedding = tsne.prepare_initial(x)
    done = 0
    stopped = False
    while done < cfg.iterations:
        if token.paused:
            token.wait_if_paused()
        if token.cancelled:
            stopped = True
            break
        early = done < cfg.early_iterations
        end = min(cfg.early_iterations if early else cfg.iterations, done + cfg.slice_iterations)
        embedding.optimize(n_iter=end - done, exaggeration=cfg.exaggeration if early else None,
                           momentum=0.5 if early else 0.8, inplace=True)
        done = end
        kl = getattr(embedding, "kl_divergence", None)
        yield Progress(done, cfg.iterations, time.perf_counter() - t0, None,
                       {"kl_divergence": float(kl)} if kl is not None else {})
    yield _finished(Layout(np.asarray(embedding, dtype=np.float32).copy(), "tsne", time.perf_counter() - t0, stopped))


def run_projection(matrix: np.ndarray, cfg: ProjectionConfig, token: CancelToken | None = None) -> Layout:
    """Run :func:`project` to the end and return its result."""
    result: Layout | None = None
    for event in project(matrix, cfg, token):
        if isinstance(event, Finished):
            result = event.result
    assert result is not None
    return result


# --- alignment -----------------------------------------------------------------------------------


def procrustes_align(reference: np.ndarray, moving: np.ndarray, scale: bool = True) -> np.ndarray:
    """``moving`` rotated (reflections allowed), uniformly scaled (if ``scale``) and translated to best
    match ``reference`` in least squares (orthogonal Procrustes, via the SVD of the cross-covariance)."""
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(moving, dtype=np.float64)
    if a.shape != b.shape:
        raise UserError(f"cannot align layouts of shapes {a.shape} and {b.shape}")
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    u, s, vt = np.linalg.svd(b0.T @ a0)
    r = u @ vt  # the rotation R minimising |b0 R - a0|
    nb = float((b0 * b0).sum())
    k = float(s.sum()) / nb if scale and nb > 0 else 1.0
    return (k * b0 @ r + ma).astype(np.float32)


def displacement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance a point moves between two layouts."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=1).mean())


def align_sequence(frames: list[np.ndarray], scale: bool = True) -> list[np.ndarray]:
    """Align every frame to the (already aligned) frame before it, so an animation does not jump."""
    out: list[np.ndarray] = []
    for f in frames:
        out.append(np.asarray(f, np.float32) if not out else procrustes_align(out[-1], f, scale))
    return out


# --- export --------------------------------------------------------------------------------------


def write_csv(path: str | Path, words: list[str], coords: np.ndarray,
              extra: dict[str, np.ndarray] | None = None) -> Path:
    """Write ``word,x,y[,z][,extra...]`` atomically (temp file, then os.replace)."""
    dest = Path(path)
    if not dest.parent.exists():
        raise UserError(f"folder {dest.parent} does not exist")
    if dest.is_dir():
        raise UserError(f"{dest} is a folder; give a file name for the coordinates")
    coords = np.asarray(coords)
    if len(words) != len(coords):
        raise UserError(f"{len(words)} words but {len(coords)} points")
    extra = extra or {}
    names = ["word", *"xyz"[: coords.shape[1]], *extra]
    def write(f) -> None:  # type: ignore[no-untyped-def]
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        w = csv.writer(text)
        w.writerow(names)
        cols = [np.asarray(v) for v in extra.values()]
        for i, word in enumerate(words):
            w.writerow([word, *(f"{c:.6g}" for c in coords[i]), *(c[i] for c in cols)])
        text.flush()
        text.detach()  # leave the file open for atomic_write's fsync

    atomic_write(dest, write, f"the coordinates file {dest}")
    return dest


def training_frames(snapshots: list[np.ndarray], dims: int = 2, scale: bool = True) -> list[np.ndarray]:
    """Layouts for the animation of an embedding space forming: PCA of each skip-gram snapshot (the
    ``vectors`` of :class:`engine.embeddings.word2vec.Snapshot`, same words in every one), each aligned
    by Procrustes to the frame before, so between frames a point moves only as its neighbourhood does."""
    return align_sequence([pca(s, dims) for s in snapshots], scale)
