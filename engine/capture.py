"""A text's attention as the Attention view holds it: every head of every layer as a thumbnail (engine.tiles),
and the full matrices only of the layers a picture needs at the moment (the head enlarged, the head view).

For a small model everything fits and every layer is kept. For a real one it would not: SmolLM2 has 270 heads,
and on 1,024 tokens their weights and scores are 2.3 GB. The forward pass streams each layer through the probe
hook (``attention_for_text(on_layer=...)``), which pools it into thumbnails and keeps it only when asked, so
memory stays at one layer's matrices plus the thumbnails; another layer is computed again when the user looks
at it (:func:`layer_matrices`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.errors import UserError
from engine.files import atomic_write
from engine.inference import attention_for_text
from engine.tasks import CancelToken
from engine.tiles import TILE, pooled

KEEP_ALL_BYTES = 256 * 2**20  # below this, a picture keeps every layer's full matrices
KEEP_QK_BYTES = 512 * 2**20  # below this, a picture keeps every layer's queries and keys (a layer in ~0.1 s)
MAX_TOKENS = 2048  # the attention view's longest input: its last tokens beyond (the grid stays fluent)


@dataclass
class LayerMatrices:
    weights: np.ndarray  # (H, T, T) float32, alpha (Eq. 11.13): zero where masked
    scores: np.ndarray | None  # (H, T, T) float32, q.k / sqrt(d_k), -inf where masked


@dataclass
class AttentionPicture:
    tokens: list[str]  # the model's input, with its start (and end) tokens
    causal: bool  # a decoder (the future is masked) or an encoder (every cell is real)
    shape: tuple[int, int, int]  # (L, H, T)
    tiles: np.ndarray  # (L, H, t, t) weights as thumbnails, NaN where masked
    score_tiles: np.ndarray | None  # (L, H, t, t) scores as thumbnails, NaN where masked
    score_range: tuple[float, float]  # the finite scores' min and max over every head
    layers: dict[int, LayerMatrices] = field(default_factory=dict)  # the full matrices kept
    truncated: int = 0  # tokens of the text left out at its start (longer than the context or MAX_TOKENS)
    q: np.ndarray | None = None  # (L, H, T, d_k): every layer's queries and keys, when the matrices are not all
    k: np.ndarray | None = None  # kept: any layer's are made from them without a forward pass (make_layer)

    @property
    def all_layers(self) -> bool:
        return len(self.layers) == self.shape[0]


def attention_picture(model, tokenizer, text: str, keep: Iterable[int] = (0,), scores: bool = True,  # noqa: ANN001
                      max_tokens: int = MAX_TOKENS, size: int = TILE,
                      token: CancelToken | None = None) -> AttentionPicture:
    """The thumbnails of every head on ``text`` (its last ``max_tokens`` tokens at most), with the full matrices
    of every layer when they take less than KEEP_ALL_BYTES, else only of the layers in ``keep`` (the memory
    of those is checked before the forward pass by attention_for_text); with the queries and keys of every
    layer kept too when they fit in KEEP_QK_BYTES. ``token`` is checked after every layer."""
    cfg = model.cfg
    wanted = {int(layer) for layer in keep if 0 <= int(layer) < cfg.L}
    tiles: list[np.ndarray] = []
    score_tiles: list[np.ndarray] = []
    kept: dict[int, LayerMatrices] = {}
    lo, hi = np.inf, -np.inf
    keep_all: list[bool] = []

    def on_layer(layer: int, att: np.ndarray, sc: np.ndarray | None) -> None:
        nonlocal lo, hi
        if token is not None:
            token.check()  # a long input takes seconds: the user may have moved on
        H, T, _ = att.shape
        if not keep_all:
            keep_all.append(cfg.L * H * T * T * 4 * (2 if sc is not None else 1) <= KEEP_ALL_BYTES)
        causal = bool(getattr(cfg, "causal", True))
        tiles.append(pooled(att, size, causal))
        if sc is not None:
            t = torch.from_numpy(sc)
            top = float(t.max())  # the diagonal is never masked: the largest score is finite
            if math.isfinite(top):
                lo, hi = min(lo, float(torch.where(torch.isneginf(t), top, t).min())), max(hi, top)
            score_tiles.append(pooled(sc, size))
        if keep_all[0] or layer in wanted:
            kept[layer] = LayerMatrices(att, sc)

    cfg_T = min(cfg.context, max_tokens)
    qk = 2 * cfg.L * cfg.H * cfg_T * cfg.d_k * 4 <= KEEP_QK_BYTES  # (at the longest input: decided before)
    cap = attention_for_text(model, tokenizer, text, window="last", scores=scores, on_layer=on_layer,
                             max_tokens=max_tokens, qk=qk)
    L, H = len(tiles), tiles[0].shape[0]
    T = len(cap.tokens)
    all_kept = len(kept) == L
    return AttentionPicture(cap.tokens, cap.causal, (L, H, T), np.stack(tiles),
                            np.stack(score_tiles) if score_tiles else None,
                            (lo, hi) if np.isfinite(lo) else (0.0, 1.0), kept, cap.truncated,
                            None if all_kept else cap.q, None if all_kept else cap.k)


def make_layer(picture: AttentionPicture, layer: int, scores: bool = True) -> LayerMatrices:
    """A layer's weights and scores made again from the picture's queries and keys: S = Q K^T / sqrt(d_k),
    masked (the future in a decoder), softmax row by row (Eq. 11.13), as the model computed them."""
    assert picture.q is not None and picture.k is not None
    q = torch.from_numpy(picture.q[layer])  # (H, T, d_k)
    k = torch.from_numpy(picture.k[layer])
    s = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])  # (H, T, T)
    if picture.causal:
        T = s.shape[-1]
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    weights = torch.softmax(s, dim=-1)
    return LayerMatrices(weights.numpy(), s.numpy() if scores else None)


def layer_matrices(model, tokenizer, text: str, layer: int, scores: bool = True,  # noqa: ANN001
                   max_tokens: int = MAX_TOKENS, picture: AttentionPicture | None = None) -> LayerMatrices:
    """One layer's full weights and scores on ``text``: from the picture's queries and keys when it has them,
    else by a forward pass."""
    if picture is not None and picture.q is not None:
        return make_layer(picture, layer, scores)
    if not 0 <= layer < model.cfg.L:
        raise UserError(f"the model has layers 0 to {model.cfg.L - 1}, not {layer}")
    out: list[LayerMatrices] = []

    def on_layer(i: int, att: np.ndarray, sc: np.ndarray | None) -> None:
        if i == layer:
            out.append(LayerMatrices(att, sc))

    attention_for_text(model, tokenizer, text, window="last", scores=scores, on_layer=on_layer, max_tokens=max_tokens)
    return out[0]


def picture_of(tokens: list[str], attention: np.ndarray, scores: np.ndarray | None, causal: bool = True,
               size: int = TILE) -> AttentionPicture:
    """A picture of matrices already at hand (a training run's probe snapshot: small, every layer kept)."""
    L, H, T, _ = attention.shape
    finite = scores[np.isfinite(scores)] if scores is not None else np.zeros(0)
    rng = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    tiles = np.stack([pooled(a, size, causal) for a in attention])
    score_tiles = np.stack([pooled(s, size) for s in scores]) if scores is not None else None
    layers = {i: LayerMatrices(attention[i], None if scores is None else scores[i]) for i in range(L)}
    return AttentionPicture(list(tokens), causal, (L, H, T), tiles, score_tiles, rng, layers)


def write_attention_npz(path: str | Path, picture: AttentionPicture, model: str, text: str) -> Path:
    """Every layer's weights and scores (L, H, T, T) float32 with the tokens, model and text, atomically
    (the picture must hold every layer: :func:`attention_picture` with ``keep=range(L)``)."""
    L = picture.shape[0]
    if not picture.all_layers:
        raise UserError("this picture keeps only some layers; compute every layer to export it")
    weights = np.stack([picture.layers[i].weights for i in range(L)])
    extra = {}
    if all(picture.layers[i].scores is not None for i in range(L)):
        extra["scores"] = np.stack([picture.layers[i].scores for i in range(L)])
    return atomic_write(path, lambda f: np.savez_compressed(f, attention=weights, tokens=np.array(picture.tokens),
                                                           model=np.array(model), text=np.array(text), **extra),
                        "the attention export")
