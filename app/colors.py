"""Colour maps shared by the views. Heatmaps are uint8 images with a 256-entry lookup table, the fast
path of pyqtgraph's ImageItem; index 255 is reserved for cells the causal mask hides, so the masked
upper triangle never looks like a small weight."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

MASKED = 255
MASK_RGBA = (58, 58, 70, 255)  # slate: clearly not a colour of the map
BACKGROUND = 254  # the attention grid's gaps between tiles (its colour map then stops at 253)
GRID_TOP = 253
HEAD_COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6", "#bcf60c",
               "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000"]
TOKEN_BACKGROUNDS = ["#fde2e4", "#e2ece9", "#dfe7fd", "#fff1c1", "#e8dff5", "#d7f9f1", "#fce1e4", "#ddedea"]


def colormap() -> pg.ColorMap:
    return pg.colormap.get("viridis")


def heat_lut() -> np.ndarray:
    """(256, 4) uint8: 0..254 follow viridis, 255 is the mask colour."""
    lut = colormap().getLookupTable(0.0, 1.0, 255, alpha=True).astype(np.uint8)
    return np.vstack([lut, np.array(MASK_RGBA, dtype=np.uint8)[None]])


def grid_lut() -> np.ndarray:
    """(256, 4) uint8 for the attention grid: 0..253 viridis, 254 the white gaps, 255 the mask colour."""
    lut = colormap().getLookupTable(0.0, 1.0, 254, alpha=True).astype(np.uint8)
    return np.vstack([lut, np.array([(255, 255, 255, 255), MASK_RGBA], dtype=np.uint8)])


DIVERGING = "CET-D1"  # blue - white - red, symmetric about 0: differences and changes


def diverging_lut() -> np.ndarray:
    """(256, 4) uint8: 0..254 blue - white - red (index 127 is zero when the levels are symmetric), 255 the
    mask colour."""
    lut = pg.colormap.get(DIVERGING).getLookupTable(0.0, 1.0, 255, alpha=True).astype(np.uint8)
    return np.vstack([lut, np.array(MASK_RGBA, dtype=np.uint8)[None]])


def head_color(h: int) -> QColor:
    return QColor(HEAD_COLORS[h % len(HEAD_COLORS)])


def to_indexed(values: np.ndarray, lo: float, hi: float, top: int = 254) -> np.ndarray:
    """Map values in [lo, hi] to 0..``top`` and non-finite (masked) cells to 255, as C-contiguous uint8."""
    span = hi - lo if hi > lo else 1.0
    finite = np.isfinite(values)
    scaled = np.clip((np.where(finite, values, lo) - lo) / span, 0.0, 1.0) * float(top)
    out = np.rint(scaled).astype(np.uint8)
    out[~finite] = MASKED
    return np.ascontiguousarray(out)


def probability_color(p: float) -> str:
    """A background for a token the model chose with probability ``p``: pale for an unsure choice, a deeper
    blue for a sure one (light enough to read black text on)."""
    t = max(0.0, min(1.0, p))
    if t <= 0.5:  # salmon (0) to cream (0.5)
        r, g, b = 255, 205 + 76 * t, 180 + 68 * t
    else:  # cream (0.5) to blue (1)
        u = (t - 0.5) * 2
        r, g, b = 255 - 120 * u, 243 - 70 * u, 214 + 30 * u
    return f"#{int(r):02x}{int(g):02x}{int(b):02x}"
