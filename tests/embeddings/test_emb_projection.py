"""PCA and t-SNE projections: deterministic with a seed, cancellable; Procrustes alignment; CSV."""

import csv

import numpy as np
import pytest

from engine.embeddings.projection import (
    ProjectionConfig,
    align_sequence,
    displacement,
    explained_variance,
    pca,
    procrustes_align,
    project,
    run_projection,
    training_frames,
    write_csv,
)
from engine.errors import UserError
from engine.events import Finished, Progress
from engine.tasks import CancelToken


def clusters(n: int = 120, d: int = 10, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d)) * 5
    return (centres[np.arange(n) % 3] + rng.normal(size=(n, d))).astype(np.float32)


def test_pca_axes_variance_and_sign():
    x = clusters()
    c2, c3 = pca(x, 2), pca(x, 3)
    assert c2.shape == (120, 2) and c3.shape == (120, 3)
    np.testing.assert_allclose(c2, c3[:, :2], atol=1e-4)
    perm = np.random.default_rng(1).permutation(len(x))
    np.testing.assert_allclose(pca(x[perm], 2), c2[perm], atol=1e-4)  # same axes, same signs
    ev = explained_variance(x, 2)
    assert ev[0] >= ev[1] > 0 and sum(ev) <= 1
    assert c2[:, 0].var() >= c2[:, 1].var()


def test_tsne_is_deterministic_with_a_seed_and_separates_clusters():
    x = clusters()
    cfg = dict(method="tsne", perplexity=10, iterations=150, early_iterations=50, seed=7)
    a = run_projection(x, ProjectionConfig(**cfg)).coords
    b = run_projection(x, ProjectionConfig(**cfg)).coords
    np.testing.assert_array_equal(a, b)
    labels = np.arange(120) % 3
    centroids = np.array([a[labels == k].mean(0) for k in range(3)])
    nearest = np.argmin(((a[:, None] - centroids[None]) ** 2).sum(-1), 1)
    assert (nearest == labels).mean() > 0.95


def test_tsne_progress_and_cancel():
    token = CancelToken()
    events = []
    for event in project(clusters(), ProjectionConfig(perplexity=10, iterations=300, slice_iterations=25), token):
        events.append(event)
        if isinstance(event, Progress) and event.step == 50:
            token.cancel()
    done = events[-1]
    assert isinstance(done, Finished) and done.stopped and done.result.coords.shape == (120, 2)
    assert [e.step for e in events[:-1]] == [25, 50]


def test_tsne_3d_and_initial_layout():
    x = clusters(60)
    three = run_projection(x, ProjectionConfig(dims=3, perplexity=10, iterations=60, early_iterations=20))
    assert three.coords.shape == (60, 3)
    init = pca(x, 2)
    warm = run_projection(x, ProjectionConfig(perplexity=10, iterations=30, early_iterations=0, initial=init))
    assert warm.coords.shape == (60, 2)


def test_bad_projection_settings():
    with pytest.raises(UserError, match="perplexity"):
        run_projection(clusters(20), ProjectionConfig(perplexity=50))
    with pytest.raises(UserError, match="unknown projection"):
        run_projection(clusters(20), ProjectionConfig(method="umapx"))


def test_procrustes_undoes_rotation_scale_and_shift():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 2))
    theta = 1.1
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    b = 3 * a @ rot + [5, -2] + rng.normal(scale=0.01, size=(50, 2))
    aligned = procrustes_align(a, b)
    assert displacement(a, aligned) < 0.02 < displacement(a, b)
    frames = align_sequence([a, b, 2 * b @ rot])
    assert displacement(frames[0], frames[2]) < 0.05


def test_csv_export(tmp_path):
    out = write_csv(tmp_path / "c.csv", ["a", "b,c"], np.array([[1.0, 2.0], [3.0, 4.5]]), {"d": np.array([0.1, 0.2])})
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows == [["word", "x", "y", "d"], ["a", "1", "2", "0.1"], ["b,c", "3", "4.5", "0.2"]]
    with pytest.raises(UserError, match="does not exist"):
        write_csv(tmp_path / "no" / "c.csv", ["a"], np.zeros((1, 2)))


def test_training_frames_from_skipgram_snapshots():
    from engine.embeddings.word2vec import SkipGram, Word2VecConfig, prepare
    from engine.events import Snapshot

    text = " ".join(f"w{i % 7} w{(i * 3) % 11}" for i in range(3000))
    cfg = Word2VecConfig(dim=8, window=2, epochs=2, min_count=1, sample=0, batch=64, snapshot_every=20)
    vocab, ids = prepare(text, cfg)
    snaps = [e.data.vectors for e in SkipGram(vocab, ids, cfg).run() if isinstance(e, Snapshot)]
    assert len(snaps) >= 3
    frames = training_frames(snaps)
    raw = [pca(s, 2) for s in snaps]
    assert all(f.shape == (len(vocab), 2) for f in frames)
    moved_aligned = sum(displacement(a, b) for a, b in zip(frames[1:], frames[2:], strict=False))
    moved_raw = sum(displacement(a, b) for a, b in zip(raw[1:], raw[2:], strict=False))
    assert moved_aligned <= moved_raw + 1e-6
