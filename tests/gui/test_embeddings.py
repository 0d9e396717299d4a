"""The Embeddings view on the real window and engine: the default token map, search and click with the
neighbour comparison, analogies and their parallelogram, skip-gram training as an animation (scrub,
pause, stop), t-SNE (run and cancel), colours, positional matrices, exports and every bad input."""

from __future__ import annotations

import csv

import numpy as np
from PySide6.QtCore import QPointF, Qt

from engine.embeddings.explore import compare_neighbours
from tests.gui.conftest import fill_analogy

V = 76  # tokens of the default char model


def open_view(window, qtbot):
    view = window.views["embeddings"]
    window.tabs.setCurrentIndex(window.view_index("embeddings"))
    qtbot.waitUntil(lambda: window.painted["embeddings"] > 0 and view.current_frame() is not None, timeout=30_000)
    return view


def points(curve) -> int:
    xs = curve.getData()[0]
    return 0 if xs is None else len(xs)


def wait_painted(window, qtbot, before: int, timeout: int = 20_000) -> None:
    qtbot.waitUntil(lambda: window.painted["embeddings"] > before, timeout=timeout)


def test_default_view_is_the_models_token_embeddings_by_pca(window, qtbot):
    view = open_view(window, qtbot)
    frame = view.current_frame()
    assert frame.method == "pca" and frame.coords.shape == (V, 2)
    assert len(view.plot.scatter.data) == V
    counts = view.shown.counts
    assert view.shown.kind == "model" and np.all(np.diff(counts) <= 0)  # most frequent first
    assert view.shown.words[0] == " "  # the space is the most frequent character in Shakespeare
    assert "PC 1" in view.plot.getAxis("bottom").labelText
    assert 0 < len(view.plot.shown_labels) <= view.colours.labels.value()
    tip = view._tip(1)
    assert "count" in tip and f"token id {int(view.shown.ids[1])}" in tip
    assert view.plot.bar.isVisible()  # the frequency colour bar


def test_search_selects_frames_and_compares_neighbours(window, qtbot):
    view = open_view(window, qtbot)
    view.search.setText("e")
    qtbot.keyClick(view.search, Qt.Key.Key_Return)
    row = view.shown.words.index("e")
    assert view.selected == row
    k = view.neighbours.k.value()
    (x0, x1), (y0, y1) = view.plot.plot_item.vb.viewRange()
    coords = view.current_frame().coords
    near = [row, *(j for j, _ in view.comparison.original)]
    assert all(x0 < x < x1 and y0 < y < y1 for x, y in coords[near])  # the word and its true neighbours in view
    assert view.neighbours.original.topLevelItemCount() == k == view.neighbours.projected.topLevelItemCount()
    assert "e" in view.plot.shown_labels


def test_clicking_a_point_lists_both_neighbour_sets_with_the_disagreement(window, qtbot):
    view = open_view(window, qtbot)
    frame = view.current_frame()
    row = view.shown.words.index("a")
    vb = view.plot.plot_item.vb
    pos = view.plot.mapFromScene(vb.mapViewToScene(QPointF(*frame.coords[row])))
    qtbot.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: view.selected is not None)
    row = view.selected  # the point under the mouse (a neighbour can sit on top of it)
    cmp = compare_neighbours(frame.vectors, frame.coords, row, view.neighbours.k.value())
    lost = {view.shown.words[j] for j in cmp.only_original}
    table = view.neighbours.original
    marked = [table.topLevelItem(i) for i in range(table.topLevelItemCount())]
    assert {it.data(0, Qt.ItemDataRole.UserRole) for it in marked if it.text(0).startswith("\u2717")} == \
        {view.display_words()[j] for j in cmp.only_original}
    assert len(lost) == len(cmp.original) - round(cmp.kept * len(cmp.original))
    assert f"{len(cmp.original) - len(lost)} of {len(cmp.original)}" in view.neighbours.summary.text()
    # lines from the word to each true neighbour: solid if kept near, dashed if put far away
    kept_pts, lost_pts = points(view.plot.kept_lines), points(view.plot.lost_lines)
    assert kept_pts + lost_pts == 2 * len(cmp.original) and lost_pts == 2 * len(lost)
    # cosines in the list are the true cosines, best first
    cosines = [float(it.text(1)) for it in marked]
    assert cosines == sorted(cosines, reverse=True)
    assert np.allclose(cosines, [c for _, c in cmp.original], atol=1e-3)


def test_analogy_answers_and_parallelogram(window, qtbot):
    view = open_view(window, qtbot)
    assert view.analogy.inputs() == ("A", "a", "b")  # the char model's default: the case offset
    before = window.painted["embeddings"]
    view.analogy.solve.click()
    wait_painted(window, qtbot, before)
    answers = [view.analogy.answers.item(i).data(Qt.ItemDataRole.UserRole)
               for i in range(view.analogy.answers.count())]
    assert answers[0] == "B" and not {"A", "a", "b"} & set(answers)
    scores = [float(view.analogy.answers.item(i).text().split()[-1]) for i in range(len(answers))]
    assert scores == sorted(scores, reverse=True)
    para = view.plot.para_points
    assert set(para) == set("abcd")
    coords, words = view.current_frame().coords, view.shown.words
    assert np.allclose(para["d"], coords[words.index("B")])
    assert points(view.plot.para_sides) == 4  # the two parallel sides b -> a and c -> d
    assert view.plot.target.data.size == 1  # the exact a - b + c corner (PCA is linear)
    # another answer from the list redraws it
    view.analogy.answers.itemClicked.emit(view.analogy.answers.item(1))
    assert np.allclose(view.plot.para_points["d"], coords[words.index(answers[1])])


def test_unknown_words_and_bad_input_show_errors(window, qtbot):
    view = open_view(window, qtbot)
    view.search.setText("zebra")
    view.find_word()
    assert "not in the vocabulary" in window.last_error and "zebra" in view.header.error_text
    fill_analogy(view.analogy, "A", "zebra", "b")
    view.analogy.solve.click()
    qtbot.waitUntil(lambda: "zebra" in view.analogy.message.text(), timeout=10_000)
    assert "analogy" in window.last_error and view.analogy.answers.count() == 0
    fill_analogy(view.analogy, "A", "", "b")
    view.analogy.solve.click()
    assert "three words" in window.last_error
    # too few words for t-SNE's perplexity: refused before anything runs, the picture stays
    frame = view.current_frame()
    view.projection.method.setCurrentIndex(1)
    view.projection.words.setValue(5)
    view.projection.run.click()
    assert "perplexity" in window.last_error and view.current_frame() is frame and not window.bridge.busy


def test_vectors_files_good_empty_and_binary(window, qtbot, tmp_path):
    view = open_view(window, qtbot)
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    good = tmp_path / "v.txt"
    good.write_text("30 6\n" + "".join(f"{w} " + " ".join(f"{x:.4f}" for x in rng.normal(size=6)) + "\n"
                                       for w in words), encoding="utf-8")
    before = window.painted["embeddings"]
    view.open_vectors(str(good))
    qtbot.waitUntil(lambda: window.painted["embeddings"] > before and view.shown.kind == "file", timeout=20_000)
    assert view.current_source() == "file" and len(view.plot.scatter.data) == 30
    assert view.shown.counts is None and "file order" in view.plot.colouring.title
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    view.open_vectors(str(empty))
    qtbot.waitUntil(lambda: "is empty" in window.last_error, timeout=10_000)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"3 2\nab\x00\x01\x02\x03\x04\x05\x06\x07")
    view.open_vectors(str(binary))
    qtbot.waitUntil(lambda: "binary" in window.last_error, timeout=10_000)
    assert len(view.plot.scatter.data) == 30  # the last good picture stays


def start_skipgram(view, qtbot, corpus: str, dim: int, epochs: int, words: int):
    """Small settings on the small text, then a real click on Train."""
    sg = view.skipgram
    sg.corpus.setText(corpus)
    sg.dim.setValue(dim)
    sg.window.setValue(2)
    sg.epochs.setValue(epochs)
    sg.min_count.setValue(1)
    view.projection.words.setValue(words)
    qtbot.mouseClick(sg.train, Qt.MouseButton.LeftButton)
    return sg


def test_skipgram_training_animates_and_scrubs(window, qtbot, small_corpus):
    view = open_view(window, qtbot)
    sg = start_skipgram(view, qtbot, small_corpus, dim=16, epochs=2, words=40)
    qtbot.waitUntil(lambda: "skip-gram" in view.spaces and not window.bridge.busy, timeout=30_000)
    assert view.current_source() == "skip-gram" and view.shown.kind == "skip-gram"
    frames = view.frames
    assert len(frames) >= 4 and all(f.step is not None for f in frames)
    assert [f.step for f in frames] == sorted(f.step for f in frames) and frames[0].step == 0
    assert frames[-1].coords.shape == (40, 2) and frames[-1].vectors.shape == (40, 16)
    assert len(sg.online) == 2 and len(sg.frozen) == 2  # loss per epoch
    bar = view.animation
    assert bar.slider.maximum() == len(frames) - 1 and view.frame_index == len(frames) - 1
    bar.slider.setValue(0)
    assert view.frame_index == 0 and not bar.follow.isChecked()
    assert np.allclose(view.plot.coords, frames[0].coords)
    assert bar.label.text().startswith(f"1/{len(frames)}") and "step 0" in bar.label.text()
    bar.slider.setValue(len(frames) - 1)
    assert bar.follow.isChecked()
    # an analogy on the trained words, and a word the small text never has
    fill_analogy(view.analogy, "to", "be", "the")
    before = window.painted["embeddings"]
    view.analogy.solve.click()
    wait_painted(window, qtbot, before)
    assert view.analogy.answers.count() == 10 and len(view.plot.para_points) == 4
    fill_analogy(view.analogy, "king", "man", "woman")
    view.analogy.solve.click()
    qtbot.waitUntil(lambda: "'king' is not in the vocabulary" in window.last_error, timeout=10_000)
    # a PCA still replaces the frames; the frames button brings the run back
    before = window.painted["embeddings"]
    view.projection.run.click()
    wait_painted(window, qtbot, before)
    assert len(view.frames) == 1 and view.frames[0].step is None and bar.frames_btn.isEnabled()
    bar.frames_btn.click()
    assert view.frames == frames and not bar.frames_btn.isEnabled()


def test_skipgram_pause_resume_and_stop(window, qtbot, small_corpus):
    view = open_view(window, qtbot)
    sg = start_skipgram(view, qtbot, small_corpus, dim=8, epochs=1000, words=20)
    qtbot.waitUntil(lambda: len(view.frames) >= 3, timeout=30_000)
    sg.pause.click()
    qtbot.waitUntil(lambda: sg.pause.text() == "Resume", timeout=10_000)
    qtbot.wait(200)
    n = len(view.frames)
    qtbot.wait(400)
    assert len(view.frames) == n  # paused: nothing arrives
    view.source.setCurrentIndex(0)  # look at the model's tokens meanwhile: the run goes on behind
    qtbot.waitUntil(lambda: view.shown.kind == "model", timeout=10_000)
    sg.pause.click()
    qtbot.waitUntil(lambda: len(view.run_frames) > n, timeout=10_000)
    assert view.shown.kind == "model" and len(view.frames) == 1  # the run's frames do not land here
    view.source.setCurrentIndex(2)  # back to the run
    assert view.frames is view.run_frames and view.shown.kind == "skip-gram"
    sg.stop.click()
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=30_000)
    assert "stopped" in sg.status.text() and "skip-gram" in view.spaces
    assert sg.train.isEnabled() and not sg.stop.isEnabled()
    assert view.space.vectors.matrix.shape[1] == 8


def test_tsne_runs_in_the_background_and_can_be_cancelled(window, qtbot):
    view = open_view(window, qtbot)
    p = view.projection
    p.method.setCurrentIndex(1)
    p.perplexity.setValue(10)
    p.iterations.setValue(120)
    p.run.click()
    assert window.bridge.busy and not p.run.isEnabled() and p.cancel.isEnabled()
    qtbot.waitUntil(lambda: view.current_frame().method == "tsne", timeout=30_000)
    first = view.current_frame()
    assert first.coords.shape == (V, 2) and "t-SNE 1" in view.plot.getAxis("bottom").labelText
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=10_000)
    p.iterations.setValue(10_000)
    p.run.click()
    qtbot.waitUntil(lambda: p.progress.value() > 0, timeout=30_000)
    p.cancel.click()
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=30_000)
    assert view.current_frame() is first and "cancelled" in view.status.text()
    assert p.run.isEnabled()


def test_colour_by_cluster_and_by_disagreement(window, qtbot):
    view = open_view(window, qtbot)
    view.colours.k.setValue(5)
    before = window.painted["embeddings"]
    view.colours.mode.setCurrentIndex(1)
    wait_painted(window, qtbot, before)
    qtbot.waitUntil(lambda: view.plot.colouring.mode == "cluster", timeout=10_000)
    labels = view.plot.colouring.values
    assert labels.shape == (V,) and set(labels.tolist()) == set(range(5))
    assert np.all(np.diff(np.bincount(labels)) <= 0)  # cluster 1 is the largest
    assert view.plot.legend.isVisible() and not view.plot.bar.isVisible()
    view.colours.mode.setCurrentIndex(2)
    qtbot.waitUntil(lambda: view.plot.colouring.mode == "disagreement", timeout=10_000)
    values = view.plot.colouring.values
    assert values.shape == (V,) and 0 <= values.min() and values.max() <= 1
    assert "mean neighbour disagreement" in view.status.text()


def test_positional_similarity_learned_and_sinusoidal(window, qtbot):
    view = open_view(window, qtbot)
    before = window.painted["embeddings"]
    view.pages.setCurrentIndex(1)
    wait_painted(window, qtbot, before)
    ps = view.positional.result
    T = window.ctx.model.facts["context"]
    assert ps.kind == "learned" and ps.model.shape == (T, T) == ps.sinusoidal.shape
    assert np.allclose(np.diag(ps.model), 1, atol=1e-5) and np.allclose(np.diag(ps.sinusoidal), 1, atol=1e-5)
    assert np.allclose(ps.model, ps.model.T, atol=1e-5)
    for img in view.positional.images:
        assert img.image.shape == (T, T) and tuple(img.levels) == (-1.0, 1.0)
    # sinusoidal: the cosine depends only on the distance |i - j|
    assert np.allclose(np.diagonal(ps.sinusoidal, 7), np.diagonal(ps.sinusoidal, 7)[0], atol=1e-4)


def test_exports_csv_png_svg_vectors(window, qtbot, tmp_path):
    view = open_view(window, qtbot)
    view.export(str(tmp_path / "c.csv"))
    with open(tmp_path / "c.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["word", "x", "y", "count"] and len(rows) == V + 1
    assert rows[1][0] == " " and int(rows[1][3]) == int(view.shown.counts[0])
    assert np.allclose([float(rows[5][1]), float(rows[5][2])], view.current_frame().coords[4], atol=1e-4)
    for name in ("p.png", "p.svg"):
        view.export(str(tmp_path / name))
        assert (tmp_path / name).stat().st_size > 1000, name
    view.export(str(tmp_path / "v.txt"))  # char tokens include white space: not storable
    assert "white space" in window.last_error
    view.export(str(tmp_path / "x.gif"))
    assert "not supported" in window.last_error


def test_follows_the_transformer_training_run(window, qtbot, small_corpus):
    view = open_view(window, qtbot)
    tv = window.training
    tv.corpus.setText(small_corpus)
    tv.d.setValue(16)
    tv.H.setValue(2)
    tv.L.setValue(1)
    tv.context.setValue(16)
    tv.batch.setValue(4)
    tv.steps.setValue(100_000)
    tv.snapshot_every.setValue(5)
    tv.autosave_every.setValue(0)
    tv.out.setText("")  # nothing saved: the stop is quick
    tv.start_btn.click()
    qtbot.waitUntil(lambda: len(view.frames) >= 3 and view.frames[-1].step is not None, timeout=60_000)
    steps = [f.step for f in view.frames]
    assert steps == sorted(steps) and view.shown.kind == "model"
    assert view.frames[-1].vectors.shape[1] == 16  # the new model's d
    tv.stop_btn.click()
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=60_000)
