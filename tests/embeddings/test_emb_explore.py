"""What the Embeddings view shows, headless: frequency order, neighbours before and after projecting,
placing words in a linear layout, clusters, aligned animation frames, skip-gram as an animation, the
positional matrices, and their command line."""

import json

import numpy as np
import pytest

from engine.cli import main
from engine.embeddings.explore import (
    Frame,
    SkipGramStart,
    aligned_pca,
    compare_neighbours,
    frequency_order,
    kmeans_labels,
    mean_by_offset,
    place_points,
    positional_similarities,
    reproject_frames,
    skipgram_animation,
    space_from_file,
    space_from_model,
)
from engine.embeddings.io import write_word2vec
from engine.embeddings.projection import displacement, pca
from engine.embeddings.vectors import Vectors
from engine.embeddings.word2vec import Word2VecConfig
from engine.errors import UserError
from engine.events import Evaluation, Finished, Snapshot, Started
from engine.tasks import CancelToken


def blobs(n: int = 60, d: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, d)) * 4
    return (centres[np.arange(n) % 3] + rng.normal(size=(n, d))).astype(np.float32)


def test_frequency_order_and_top():
    vec = Vectors(["a", "b", "c", "d"], np.eye(4, dtype=np.float32))
    space = frequency_order(vec, np.array([3, 10, 1, 10]), "model")
    assert space.words == ["b", "d", "a", "c"] and list(space.ids) == [1, 3, 0, 2]  # ties keep their order
    assert np.array_equal(space.vectors.matrix[0], np.eye(4)[1])
    top = space.top(2)
    assert top.words == ["b", "d"] and list(top.counts) == [10, 10] and len(space.top(99)) == 4
    assert frequency_order(vec, None, "file").words == vec.words


def test_space_of_the_default_model_is_ordered_by_corpus_counts():
    from engine.checkpoint import load_checkpoint

    loaded = load_checkpoint(None)
    counts = np.arange(loaded.tokenizer.vocab_size)  # the last token id the most frequent
    space = space_from_model(loaded.model, loaded.tokenizer, "embedding", counts)
    assert space.ids[0] == loaded.tokenizer.vocab_size - 1 and np.all(np.diff(space.counts) <= 0)
    row = loaded.model.wte.weight[int(space.ids[0])].detach().numpy()
    assert np.allclose(space.vectors.matrix[0], row)
    tied = space_from_model(loaded.model, loaded.tokenizer, "unembedding", None)
    assert "tied" in tied.note and tied.counts is None  # the default model ties W_U to W_E


def test_space_from_files(tmp_path, tiny_checkpoint):
    vec = Vectors(["x", "y", "z", "w"], np.arange(8, dtype=np.float32).reshape(4, 2))
    write_word2vec(vec, tmp_path / "v.txt")
    space = space_from_file(str(tmp_path / "v.txt"))
    assert space.kind == "file" and space.words == vec.words and space.counts is None
    ckpt = space_from_file(tiny_checkpoint)
    assert ckpt.kind == "model" and ckpt.counts is not None and len(ckpt) == len(ckpt.counts)
    with pytest.raises(UserError, match="is empty"):
        (tmp_path / "e.txt").write_text("", encoding="utf-8")
        space_from_file(str(tmp_path / "e.txt"))


def test_compare_neighbours_marks_what_the_projection_moved():
    vectors = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0], [0, 0.9, 0.1], [0, 0, 1]], dtype=np.float32)
    coords = np.array([[0, 0], [5, 5], [0.1, 0], [6, 6], [9, 9]], dtype=np.float32)  # 1 put far, 2 put near
    cmp = compare_neighbours(vectors, coords, 0, k=1)
    assert cmp.original[0][0] == 1 and cmp.original[0][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert cmp.projected[0][0] == 2 and cmp.projected[0][1] == pytest.approx(0.1, abs=1e-6)
    assert cmp.only_original == {1} and cmp.only_projected == {2} and cmp.kept == 0.0
    faithful = compare_neighbours(vectors, vectors[:, :2], 2, k=1)
    assert faithful.kept == 1.0 and faithful.original[0][0] == 3
    with pytest.raises(UserError):
        compare_neighbours(vectors, coords[:3], 0)


def test_place_points_is_exact_for_pca_also_after_alignment():
    x = blobs(40, 8)
    new = blobs(5, 8, seed=3)
    mean = x.mean(0)
    coords = pca(x, 2)
    axes = np.linalg.lstsq(x - mean, coords, rcond=None)[0]  # the PCA map, recovered exactly
    assert np.allclose(place_points(x, coords, new), (new - mean) @ axes, atol=1e-4)
    # after an aligned frame (unit scale, rotation, reflection) the map is still affine: still exact
    turn = np.array([[0.6, -0.8], [0.8, 0.6]], dtype=np.float32)
    frame, _ = aligned_pca(x, coords @ turn)
    k = np.linalg.lstsq(coords, frame, rcond=None)[0]  # coords -> frame, a similarity transform
    assert np.allclose(place_points(x, frame, new), ((new - mean) @ axes) @ k, atol=1e-3)
    assert np.allclose(place_points(x, frame, x), frame, atol=1e-4)


def test_kmeans_labels_by_direction_largest_first_and_seeded():
    x = blobs(90, 6)
    a, b = kmeans_labels(x, 3, seed=2), kmeans_labels(x, 3, seed=2)
    assert np.array_equal(a, b) and set(a.tolist()) == {0, 1, 2}
    assert np.all(np.diff(np.bincount(a)) <= 0)
    truth = np.arange(90) % 3
    assert all(len(set(a[truth == k].tolist())) == 1 for k in range(3))  # each blob one cluster
    assert np.array_equal(kmeans_labels(x * 7.0, 3, seed=2), a)  # by direction: scale does not matter
    with pytest.raises(UserError, match="clusters"):
        kmeans_labels(x, 0)


def test_aligned_pca_keeps_size_and_follows_the_previous_orientation():
    x = blobs(50, 8)
    first, explained = aligned_pca(x)
    assert np.sqrt((first**2).sum(1).mean()) == pytest.approx(1.0, abs=1e-5) and explained[0] >= explained[1]
    tiny, _ = aligned_pca(x * 1e-4)  # the vectors at the start of training: the same picture, the same size
    assert np.allclose(tiny, first, atol=1e-4)
    turn = np.array([[0.6, -0.8], [0.8, 0.6]], dtype=np.float32)
    for previous in (first @ turn, first * np.array([-1.0, 1.0], dtype=np.float32)):  # rotated, reflected
        aligned, _ = aligned_pca(x, previous)
        assert displacement(aligned, previous) < 1e-4 < displacement(first, previous)


def test_aligned_pca_in_3d_follows_a_turned_previous_frame():
    x = blobs(50, 8)
    first, explained = aligned_pca(x, dims=3)
    assert first.shape == (50, 3) and len(explained) == 3 and explained[0] >= explained[1] >= explained[2]
    c, s = np.cos(0.7), np.sin(0.7)
    turn = np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]], dtype=np.float32)  # a yaw: a 2-D Procrustes cannot undo it
    aligned, _ = aligned_pca(x, first @ turn, dims=3)
    assert displacement(aligned, first @ turn) < 1e-4 < displacement(first, first @ turn)
    assert np.allclose(place_points(x, aligned, x), aligned, atol=1e-4)  # still a linear map of the vectors


def test_reproject_frames_to_3d_and_back():
    x, y = blobs(40, 8), blobs(40, 8, seed=1)
    still = Frame(pca(x, 2), x, "pca")
    run: list[Frame] = []
    for i, v in enumerate((x, 0.5 * x + 0.5 * y, y)):  # a training run's frames, each aligned to the one before
        run.append(Frame(aligned_pca(v, run[-1].coords if run else None)[0], v, "pca", step=i))
    [still3] = reproject_frames([still], 3)
    assert still3.coords.shape == (40, 3) and still3.dims == 3 and len(still3.explained) == 3
    assert np.allclose(still3.coords[:, :2], still.coords, atol=1e-4)  # PCA's first two axes do not change
    run3 = reproject_frames(run, 3)
    assert [f.step for f in run3] == [0, 1, 2] and all(f.coords.shape == (40, 3) for f in run3)
    assert all(a is not b for a, b in zip(run, run3, strict=True))  # new frames: the old stay as they were
    assert all(displacement(a.coords, b.coords) < displacement(a.coords, aligned_pca(b.vectors, dims=3)[0]) + 1e-6
               for a, b in zip(run3, run3[1:], strict=False))  # each aligned to the one before
    back = reproject_frames(run3, 2)
    assert np.allclose(back[-1].coords, run[-1].coords, atol=1e-4)
    with pytest.raises(UserError, match="t-SNE"):
        reproject_frames([Frame(pca(x, 2), x, "tsne")], 3)


def test_skipgram_animation_events_and_stop(small_corpus):
    from engine.corpus import load_corpus

    text = load_corpus(small_corpus).text
    cfg = Word2VecConfig(dim=8, window=2, epochs=2, min_count=1, seed=3)
    events = list(skipgram_animation(text, cfg, shown=25))
    started, done = events[0], events[-1]
    assert isinstance(started, Started) and isinstance(started.info, SkipGramStart)
    assert started.info.shown == 25 and started.info.snapshot_every >= 1
    frames = [e.data for e in events if isinstance(e, Snapshot)]
    assert all(isinstance(f, Frame) for f in frames)
    assert len(frames) >= 3 and frames[0].step == 0 and all(f.coords.shape == (25, 2) for f in frames)
    assert sum(isinstance(e, Evaluation) for e in events) == 2
    assert isinstance(done, Finished) and not done.stopped and len(done.result) == len(started.info.words)
    assert np.allclose(done.result.vectors.matrix[:25], frames[-1].vectors)  # the last frame is the result
    assert all(displacement(a.coords, b.coords) < 1.0 for a, b in zip(frames, frames[1:], strict=False))
    token = CancelToken()
    stopped = []
    for e in skipgram_animation(text, Word2VecConfig(dim=8, window=2, epochs=500, min_count=1), 10, token):
        stopped.append(e)
        if sum(isinstance(x, Snapshot) for x in stopped) == 3:
            token.cancel()
    assert isinstance(stopped[-1], Finished) and stopped[-1].stopped
    assert isinstance(stopped[-2], Snapshot)  # the vectors as the stop left them
    three = [e.data for e in skipgram_animation(text, cfg, shown=25, dims=3) if isinstance(e, Snapshot)]
    assert all(f.coords.shape == (25, 3) for f in three) and len(three) == len(frames)


def test_positional_similarities_of_learned_and_sinusoidal_positions(tiny_checkpoint):
    from engine.checkpoint import load_checkpoint

    ps = positional_similarities(load_checkpoint(tiny_checkpoint).model)
    assert ps.kind == "learned" and ps.T == 32 and ps.d == 32
    for m in (ps.model, ps.sinusoidal):
        assert m.shape == (32, 32) and np.allclose(np.diag(m), 1, atol=1e-5) and np.allclose(m, m.T, atol=1e-6)
    off = mean_by_offset(ps.sinusoidal)
    assert off[0] == pytest.approx(1.0) and np.allclose(np.diagonal(ps.sinusoidal, 3), off[3], atol=1e-5)


def test_positional_similarity_and_cluster_columns_on_the_command_line(capsys, tmp_path, tiny_checkpoint):
    assert main(["positional-similarity", "--checkpoint", tiny_checkpoint, "--out", str(tmp_path / "p.npz"),
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["T"] == 32 and res["kind"] == "learned" and len(res["mean_cosine_by_distance"]["model"]) == 32
    saved = np.load(tmp_path / "p.npz")
    assert saved["model"].shape == (32, 32) == saved["sinusoidal"].shape
    assert main(["positional-similarity", "--out", str(tmp_path / "p.csv"), "--json"]) == 2
    assert ".npz" in capsys.readouterr().err
    out = tmp_path / "c.csv"
    assert main(["project-embeddings", "--vectors", tiny_checkpoint, "--method", "pca", "--clusters", "3",
                 "--out", str(out), "--json"]) == 0
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header == "word,x,y,neighbour_disagreement,cluster"
