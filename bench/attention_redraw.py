"""Redraw time of the Attention view for long inputs: 512 tokens x 8 heads x 6 layers, and 512 tokens x 9 heads
x 30 layers (SmolLM2's 270 heads, whose thumbnails the engine thread pools, engine.tiles).

Times ``AttentionView.display`` (the grid's mosaic, the enlarged head, the head view) plus the paint of the
window, median of several redraws, in the real window. Usage: ``python -m bench.attention_redraw``.
"""

from __future__ import annotations

import json
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402,F401  (torch before Qt)
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.main import build  # noqa: E402
from app.views.attention.view import AttentionData  # noqa: E402
from bench.machine import describe  # noqa: E402
from engine.tiles import TILE, thumbnails  # noqa: E402


def fake_attention(L: int, H: int, T: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((L, H, T, T)).astype(np.float32)
    s[..., np.triu(np.ones((T, T), dtype=bool), 1)] = -np.inf
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def redraws(app: QApplication, view, L: int, H: int, T: int) -> dict:
    tokens = [f"t{i}" for i in range(T)]
    datas = []
    for seed in range(3):
        att = fake_attention(L, H, T, seed)
        data = AttentionData(tokens, att, None, "a random model", "random", None)
        if T > TILE:  # as the analysis job does in the engine thread
            data.tiles = thumbnails(att, causal=True)
        datas.append(data)
    view.display(datas[0])
    app.processEvents()
    times = []
    for k in range(6):
        t0 = time.perf_counter()
        view.display(datas[(k + 1) % len(datas)])
        view.repaint()
        view.grid.viewport().repaint()
        app.processEvents()
        times.append(time.perf_counter() - t0)
    zoom = []
    for _ in range(5):  # zoom and pan the grid and the enlarged head
        t0 = time.perf_counter()
        for vb in (view.grid.plot.vb, view.detail.plot.vb):
            vb.scaleBy((0.8, 0.8))
            vb.translateBy((0.5, 0.5))
        view.grid.viewport().repaint()
        view.detail.viewport().repaint()
        app.processEvents()
        zoom.append(time.perf_counter() - t0)
    ms = lambda x: round(x * 1000, 1)  # noqa: E731
    return {"layers": L, "heads": H, "tokens": T, "redraw_ms_median": ms(statistics.median(times)),
            "redraw_ms_max": ms(max(times)), "zoom_pan_ms_median": ms(statistics.median(zoom))}


def main() -> None:
    app, win = build(["--size", "1600x1000"])
    win.resize(1600, 1000)
    while win.attention.painted == 0:  # the default model's first picture, then ours replace it
        app.processEvents()
    results = [redraws(app, win.attention, 6, 8, 512), redraws(app, win.attention, 30, 9, 512)]
    win.close()
    print(json.dumps({"machine": describe(), "cases": results}, indent=1))


if __name__ == "__main__":
    main()
