"""The attention grid scales to a model of real size: 30 layers x 9 heads, long inputs pooled into tiles, the
grid filtered by layers and heads, a click on any tile selecting that head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.model import GPT, ModelConfig
from engine.tiles import masked, pooled


def test_pooling_keeps_peaks_and_the_mask():
    T = 300
    m = masked(np.full((T, T), 0.01, dtype=np.float32))
    m[299, 7] = 0.9
    p = pooled(m, 128)
    assert p.shape == (100, 100)  # blocks of 3
    assert p[99, 2] == pytest.approx(0.9)  # the one sharp weight survives the shrinking
    assert np.isnan(p[0, 50]) and p[50, 0] == pytest.approx(0.01)  # all-masked blocks stay masked
    assert pooled(m[:40, :40], 128) is not None and pooled(m[:40, :40], 128).shape == (40, 40)


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    """A randomly initialised model of SmolLM2's head layout (30 layers x 9 heads), char tokens, context 600."""
    torch.manual_seed(0)
    tok = load_checkpoint(None).tokenizer
    model = GPT(ModelConfig(vocab_size=tok.vocab_size, context=600, d=72, H=9, L=30))
    out = tmp_path_factory.mktemp("wide") / "wide"
    save_checkpoint(out, model, tok, extra={"step": 0, "corpus": "shakespeare"})
    return out


def test_270_heads_of_a_long_input_in_one_zoomable_grid(window, qtbot, wide_model):
    window.ctx.open_model(str(wide_model))
    qtbot.waitUntil(lambda: window.ctx.model is not None and window.ctx.model.facts["L"] == 30, timeout=30_000)
    view = window.attention
    text = ("To be, or not to be, that is the question. " * 20)[:511]
    view.set_text(text)
    qtbot.waitUntil(lambda: view.current is not None and view.current.shape == (30, 9, 512) and view.settled,
                    timeout=60_000)
    grid = view.grid
    assert grid.shape == (30, 9) and grid.tiles.shape == (30, 9, 128, 128)
    # 270 heads x 512^2 weights and scores would be 570 MB: the picture keeps thumbnails and one layer in full
    assert set(view.current.picture.layers) == {0}
    tile = grid.tile_image(29, 8)
    assert tile[0, 100] == 255 and tile[100, 0] != 255  # pooled, and the future still masked
    # a click on a tile selects that head, wherever the user has zoomed to
    grid.plot.vb.setRange(xRange=(4, 7), yRange=(20, 23), padding=0)
    qtbot.wait(50)
    centre = grid.plot.vb.mapViewToScene(QPointF(5 * grid.pitch + 0.5, 21 * grid.pitch + 0.5))
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.mapFromScene(centre))
    qtbot.waitUntil(lambda: view.selected == (21, 5), timeout=5_000)
    qtbot.waitUntil(lambda: view.detail.title.startswith("layer 21, head 5"), timeout=30_000)  # computed again
    assert view.detail.values.shape == (512, 512) and set(view.current.picture.layers) <= {0, 21}
    # filters: a few layers, a few heads
    view.layers_filter.setText("0-3, 29")
    view.heads_filter.setText("2-4")
    view.layers_filter.editingFinished.emit()
    assert grid.shape == (5, 3) and grid.layers == [0, 1, 2, 3, 29] and grid.heads == [2, 3, 4]
    assert view.selected in [(layer, h) for layer in grid.layers for h in grid.heads]
    view.heads_filter.setText("12")
    view.heads_filter.editingFinished.emit()
    assert "outside 0-8" in view.header.error_text and grid.shape == (5, 3)  # the grid stays as it was
