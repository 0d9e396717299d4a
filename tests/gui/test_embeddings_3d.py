"""The Embeddings view in 3-D on the real window and engine: PCA and t-SNE to three axes, the CSV with
x, y, z, a mouse drag that turns the camera (the layout stays), the wheel, reset view, clicking and the
neighbour comparison measured in 3-D, the analogy in 3-D, and a skip-gram run's frames in 3-D and back."""

from __future__ import annotations

import csv

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from app.views.embeddings.orbit import DEFAULT_PITCH, DEFAULT_YAW
from engine.embeddings.analysis import projection_neighbours_disagreement
from engine.embeddings.explore import compare_neighbours
from tests.gui.test_embeddings import V, open_view, start_skipgram, wait_painted


def to_3d(window, qtbot, view):
    view.projection.dims.setCurrentIndex(1)
    qtbot.waitUntil(lambda: view.current_frame().dims == 3, timeout=20_000)
    return view.current_frame()


def widget_pos(view, screen_xy):
    """Where a point drawn at ``screen_xy`` (plot coordinates) is in the plot widget."""
    vb = view.plot.plot_item.vb
    return view.plot.mapFromScene(vb.mapViewToScene(QPointF(*(float(v) for v in screen_xy))))


def drag(qtbot, widget, start, moves):
    """A real left-button drag on the plot: press, a few moves, release."""
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    pos = start
    for dx, dy in moves:
        pos = pos + type(start)(dx, dy)
        qtbot.mouseMove(widget, pos)
        qtbot.wait(15)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=pos)


def test_3d_pca_csv_rotation_wheel_and_reset(window, qtbot, tmp_path):
    view = open_view(window, qtbot)
    frame = to_3d(window, qtbot, view)
    plot = view.plot
    assert frame.method == "pca" and frame.coords.shape == (V, 3) and len(frame.explained) == 3
    assert plot.three and plot.gizmo.isVisible() and view.reset_view_btn.isVisible()
    assert not plot.plot_item.getAxis("bottom").isVisible()  # the gizmo shows the axes instead
    assert plot.gizmo.names[0].startswith("PC1") and "3-D" in view.neighbours.head_p.text()
    # drawn through the camera, far to near, the far points smaller
    assert np.allclose(plot.coords, plot.camera.view(frame.coords)[:, :2], atol=1e-5)
    drawn = plot.scatter.data
    order = [int(d) for d in drawn["data"]]
    assert sorted(order) == list(range(V)) and np.all(np.diff(plot.depth[order]) >= 0)
    assert drawn["size"][0] < drawn["size"][-1]
    # the CSV has the three coordinates
    view.export(str(tmp_path / "c.csv"))
    with open(tmp_path / "c.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["word", "x", "y", "z", "count"] and len(rows) == V + 1
    assert np.allclose([float(v) for v in rows[5][1:4]], frame.coords[4], atol=1e-4)
    # a left-button drag turns the camera: the points move on the screen, the layout does not
    layout_before, screen_before = frame.coords.copy(), plot.coords.copy()
    start = plot.viewport().rect().center()
    drag(qtbot, plot.viewport(), start, [(12, 0)] * 6 + [(0, 8)] * 3)
    qtbot.waitUntil(lambda: plot.camera.yaw > DEFAULT_YAW + 20, timeout=5_000)
    assert plot.camera.pitch > DEFAULT_PITCH
    assert np.array_equal(view.current_frame().coords, layout_before) and view.current_frame() is frame
    assert not np.allclose(plot.coords, screen_before, atol=1e-3)
    assert np.allclose(plot.coords, plot.camera.view(frame.coords)[:, :2], atol=1e-5)
    # the wheel zooms
    (x0, x1), _ = plot.plot_item.vb.viewRange()
    centre = QPointF(start)
    wheel = QWheelEvent(centre, QPointF(plot.viewport().mapToGlobal(start)), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(plot.viewport(), wheel)
    (z0, z1), _ = plot.plot_item.vb.viewRange()
    assert z1 - z0 < 0.9 * (x1 - x0)
    # reset view: the default angle and the first picture again
    view.reset_view_btn.click()
    assert (plot.camera.yaw, plot.camera.pitch) == (DEFAULT_YAW, DEFAULT_PITCH)
    assert np.allclose(plot.coords, screen_before, atol=1e-5)
    # back to 2-D: the PCA still is projected again at once
    view.projection.dims.setCurrentIndex(0)
    qtbot.waitUntil(lambda: view.current_frame().dims == 2, timeout=20_000)
    assert not plot.three and not view.reset_view_btn.isVisible() and not plot.gizmo.isVisible()
    assert np.allclose(view.current_frame().coords, layout_before[:, :2], atol=1e-4)  # PCA's first two axes


def test_3d_click_neighbours_disagreement_and_analogy(window, qtbot):
    view = open_view(window, qtbot)
    frame = to_3d(window, qtbot, view)
    view.plot.turn(60, -25)  # from another angle: what is measured is the 3-D layout, not the screen
    row = view.shown.words.index("a")
    qtbot.mouseClick(view.plot.viewport(), Qt.MouseButton.LeftButton, pos=widget_pos(view, view.plot.coords[row]))
    qtbot.waitUntil(lambda: view.selected is not None)
    row = view.selected  # the nearest point under the mouse (drawn last)
    k = view.neighbours.k.value()
    cmp = compare_neighbours(frame.vectors, frame.coords, row, k)
    distances = np.linalg.norm(frame.coords - frame.coords[row], axis=1)
    table = view.neighbours.projected
    listed = [float(table.topLevelItem(i).text(1)) for i in range(table.topLevelItemCount())]
    assert np.allclose(listed, [distances[j] for j, _ in cmp.projected], rtol=6e-3)  # 3-D distances (3 digits)
    assert f"{round(cmp.kept * k)} of {k}" in view.neighbours.summary.text() and "3-D" in view.neighbours.summary.text()
    kept = view.plot.kept_lines.getData()[0]
    assert kept is None or len(kept) == 2 * round(cmp.kept * k)
    # the disagreement colours: measured in the 3-D layout
    view.colours.mode.setCurrentIndex(2)
    qtbot.waitUntil(lambda: view.plot.colouring.mode == "disagreement", timeout=10_000)
    truth = projection_neighbours_disagreement(frame.vectors, frame.coords, 10)["disagreement"]
    assert np.allclose(view.plot.colouring.values, truth) and "3-D layout" in view.status.text()
    # the analogy's parallelogram in 3-D: the exact corner a - b + c, drawn through the camera
    before = window.painted["embeddings"]
    view.analogy.solve.click()
    wait_painted(window, qtbot, before)
    para, words = view.plot.para_points, view.shown.words
    assert np.allclose(para["d"], frame.coords[words.index("B")])  # 3 coordinates
    target = np.asarray(para["a"]) - para["b"] + para["c"]
    tx, ty = view.plot.target.getData()
    assert np.allclose([tx[0], ty[0]], view.plot.to_screen(target)[0], atol=1e-5)


def test_tsne_in_3d_on_a_small_set(window, qtbot):
    view = open_view(window, qtbot)
    p = view.projection
    p.dims.setCurrentIndex(1)
    qtbot.waitUntil(lambda: view.current_frame().dims == 3, timeout=20_000)
    frame = view.current_frame()
    p.words.setValue(3)  # three points span no 3-D space: refused at once, the picture stays
    p.run.click()
    assert "at least 4 points" in window.last_error and view.current_frame() is frame
    p.words.setValue(40)
    p.method.setCurrentIndex(1)
    p.perplexity.setValue(8)
    p.iterations.setValue(90)
    p.run.click()
    assert not p.dims.isEnabled()  # fixed while it runs
    qtbot.waitUntil(lambda: view.current_frame().method == "tsne", timeout=30_000)
    tsne = view.current_frame()
    assert tsne.coords.shape == (40, 3) and view.plot.gizmo.names == ["t-SNE 1", "t-SNE 2", "t-SNE 3"]
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=10_000)
    p.dims.setCurrentIndex(0)  # t-SNE is not a map: the 3-D picture stays until Run
    assert view.current_frame() is tsne and "press Run" in view.status.text()


def test_skipgram_frames_in_3d_scrub_and_back_to_2d(window, qtbot, small_corpus):
    view = open_view(window, qtbot)
    view.projection.dims.setCurrentIndex(1)
    start_skipgram(view, qtbot, small_corpus, dim=12, epochs=1, words=30)
    assert not view.projection.dims.isEnabled()  # the run's frames are projected as it goes
    qtbot.waitUntil(lambda: "skip-gram" in view.spaces and not window.bridge.busy, timeout=30_000)
    frames = view.frames
    assert len(frames) >= 3 and all(f.coords.shape == (30, 3) for f in frames) and view.plot.three
    assert view.projection.dims.isEnabled()
    view.animation.slider.setValue(1)
    assert view.frame_index == 1 and np.allclose(view.plot.layout_coords, frames[1].coords)
    view.plot.turn(40, 0)
    angle = view.plot.camera.yaw
    view.animation.slider.setValue(2)  # scrubbing keeps the camera
    assert view.plot.camera.yaw == angle and np.allclose(view.plot.layout_coords, frames[2].coords)
    view.projection.dims.setCurrentIndex(0)
    qtbot.waitUntil(lambda: view.current_frame().dims == 2, timeout=20_000)
    assert view.frames is view.run_frames and len(view.frames) == len(frames) and view.frame_index == 2
    assert all(f.coords.shape == (30, 2) for f in view.frames) and view.final_frame is view.frames[-1]
    assert np.allclose(view.last_run[1][-1].coords, view.frames[-1].coords)
