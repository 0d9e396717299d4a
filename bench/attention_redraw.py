"""Redraw time of the Attention view for long inputs: 512 tokens x 8 heads x 6 layers.

Times ``AttentionView.show`` (colour mapping of all 48 panels, the enlarged head, the head view) plus
the paint of the window, median of several redraws. Usage: ``python -m bench.attention_redraw``.
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

from app.views.attention import AttentionData, AttentionView  # noqa: E402
from bench.machine import describe  # noqa: E402


def fake_attention(L: int, H: int, T: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((L, H, T, T)).astype(np.float32)
    s[..., np.triu(np.ones((T, T), dtype=bool), 1)] = -np.inf
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def main() -> None:
    app = QApplication.instance() or QApplication([])
    view = AttentionView()
    view.resize(1600, 1000)
    view.show()
    L, H, T = 6, 8, 512
    tokens = [f"t{i}" for i in range(T)]
    datas = [AttentionData(tokens, fake_attention(L, H, T, s)) for s in range(4)]
    view.display(datas[0])
    app.processEvents()
    times = []
    for k in range(6):
        t0 = time.perf_counter()
        view.display(datas[(k + 1) % 4])
        view.repaint()
        view.grid.viewport().repaint()
        app.processEvents()
        times.append(time.perf_counter() - t0)
    zoom = []
    for _ in range(5):  # zoom and pan the enlarged head
        t0 = time.perf_counter()
        view.detail.plot.vb.scaleBy((0.8, 0.8))
        view.detail.plot.vb.translateBy((5, 5))
        view.detail.viewport().repaint()
        app.processEvents()
        zoom.append(time.perf_counter() - t0)
    print(json.dumps({"machine": describe(), "layers": L, "heads": H, "tokens": T,
                      "redraw_ms_median": round(statistics.median(times) * 1000, 1),
                      "redraw_ms_max": round(max(times) * 1000, 1),
                      "zoom_pan_ms_median": round(statistics.median(zoom) * 1000, 1)}, indent=1))


if __name__ == "__main__":
    main()
