"""Incremental decoding: a key/value cache and the forward pass that feeds only the new tokens.

In a causal model the keys and values of a position never change once computed (position i looks only at
j <= i), so generation keeps them (seed 001's greedy and beam search ask for one next token at a time).
Grouped-query models keep only their H_kv key/value heads: SmolLM2's cache is a third of what 9 full heads
would need. Rotary positions are applied before a key enters the cache, so cached keys stay valid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from engine.attention import causal_rows, rotate_half
from engine.errors import UserError
from engine.validate import check_memory

if TYPE_CHECKING:
    from engine.model import ModelConfig, Transformer

FIRST_CAPACITY = 256  # positions allocated at first; the buffer doubles (up to the context) as it fills


class KVCache:
    """Keys and values of the first ``length`` positions of every layer, for incremental decoding.

    One buffer ``kv`` (L, 2, B, H_kv, capacity, d_k): [l, 0] holds layer l's keys, [l, 1] its values, each
    (B, H_kv, positions, d_k), the layout attention reads them in. A step writes its position in place; the
    buffer grows (doubling, up to the context) when full; beam search reorders all layers' rows with one
    ``index_select``.
    """

    def __init__(self, cfg: ModelConfig, batch: int, device: torch.device | None = None,
                 dtype: torch.dtype = torch.float32, capacity: int | None = None) -> None:
        if not cfg.causal:
            raise UserError("an encoder (bidirectional attention) has no key/value cache: every position "
                            "looks at every other")
        self.cfg = cfg
        cap = min(cfg.context, max(int(capacity or 0), FIRST_CAPACITY))
        self.kv = self._allocate(batch, cap, device, dtype)
        self.length = 0  # positions filled (the next token goes to position ``length``)
        self.weights: list[tuple] | None = None  # the model's tensors, looked up once per cache (speed)
        self.math: _Math | None = None

    def _allocate(self, batch: int, capacity: int, device: torch.device | None, dtype: torch.dtype) -> torch.Tensor:
        cfg = self.cfg
        shape = (cfg.L, 2, batch, cfg.kv_heads, capacity, cfg.d_k)
        n = 1
        for s in shape:
            n *= s
        check_memory(n * torch.tensor([], dtype=dtype).element_size(),
                     f"a key/value cache of {capacity:,} positions for {batch} sequences")
        return torch.zeros(shape, device=device, dtype=dtype)

    @property
    def batch(self) -> int:
        return self.kv.shape[2]

    @property
    def capacity(self) -> int:
        return self.kv.shape[4]

    def ensure(self, end: int) -> None:
        """Room for positions up to ``end`` (copying what is cached into a larger buffer when needed)."""
        if end <= self.capacity:
            return
        cap = min(self.cfg.context, max(end, 2 * self.capacity))
        kv = self._allocate(self.batch, cap, self.kv.device, self.kv.dtype)
        kv[..., : self.length, :] = self.kv[..., : self.length, :]
        self.kv = kv

    def reorder(self, index: torch.Tensor) -> None:
        """Row b of the new cache is row ``index[b]`` of the old (beam search: which parent each beam extends)."""
        self.kv = self.kv.index_select(2, index)

    def reset(self) -> None:
        self.length = 0


def _layer_weights(model: Transformer) -> list[tuple]:
    """Per block, the tensors of the cached path, fetched once (module attribute lookups are slow)."""
    out = []
    for blk in model.blocks:
        a, f = blk.attn, blk.ffn
        attention = (blk.ln_1.weight, getattr(blk.ln_1, "bias", None), a.W_qkv.weight, a.W_qkv.bias, a.W_c.weight,
                     a.W_c.bias)
        if f is None:  # attention only (mlp="none"): W_1 None says "no feed-forward layer"
            out.append((*attention, None, None, None, None, None, None, a.mask))
            continue
        W_1 = f.W_gu if f.gated else f.W_1
        out.append((*attention, blk.ln_2.weight, getattr(blk.ln_2, "bias", None), W_1.weight, W_1.bias,
                    f.W_2.weight, f.W_2.bias, a.mask))
    return out


class _Math:
    """The model's functions on plain tensors (the cached path calls them once per layer and token)."""

    def __init__(self, cfg: ModelConfig) -> None:
        self.d, self.eps, self.m = (cfg.d,), cfg.norm_eps, cfg.m
        self.rms = cfg.norm_kind == "rmsnorm"
        self.gated = cfg.mlp == "swiglu"
        self.act = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu,
                    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh")}[cfg.activation]

    def norm(self, x: torch.Tensor, g: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        if self.rms:
            return F.rms_norm(x, self.d, g, self.eps)
        return F.layer_norm(x, self.d, g, b, self.eps)

    def ffn(self, u: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor | None, W2: torch.Tensor,
            b2: torch.Tensor | None) -> torch.Tensor:
        """Eq. 11.16 (or SwiGLU) on already normed rows."""
        z = F.linear(u, W1, b1)
        if self.gated:
            g, h = z.split(self.m, dim=-1)
            return F.linear(self.act(g) * h, W2, b2)
        return F.linear(self.act(z), W2, b2)


def _step_pre_ln(model: Transformer, idx: torch.Tensor, cache: KVCache, pos: int) -> torch.Tensor:
    """One new token per row at position ``pos`` of a pre-LN model, on (B, d) rows: the fewest ops (the hot
    path of generation; a one-token step of a 30-layer model is some 600 small torch calls besides its
    matrix products, so each saved call counts). The same computation as :class:`engine.model.Block`."""
    cfg = model.cfg
    B, H, H_kv, d_k, n = idx.shape[0], cfg.H, cfg.kv_heads, cfg.d_k, pos + 1
    G, Hd, KVd = H // H_kv, H * d_k, H_kv * d_k
    fn = cache.math
    x = model.wte.weight.index_select(0, idx)  # (B, d)
    if model.wpe is not None:
        x = x + model.wpe.weight.select(0, pos)
    elif cfg.positional == "sinusoidal":
        x = x + model.pe.select(0, pos)
    if model.wtt is not None:
        x = x + model.wtt.weight.select(0, 0)
    if model.ln_e is not None:
        x = model.ln_e(x)
    rotary = model.rotary is not None
    if rotary:  # rotate_half(z) * sin = roll(z, d_k / 2) * [-sin, sin]: q and k of all heads at once
        cos, sin = model.rotary.tables(pos, n, x.device)
        half = d_k // 2
        sin = torch.cat([-sin[:, :half], sin[:, half:]], dim=-1)
    for layer, (g1, b1, Wqkv, bqkv, Wc, bc, g2, b2, W1, bW1, W2, bW2, _) in enumerate(cache.weights):
        qkv = F.linear(fn.norm(x, g1, b1), Wqkv, bqkv)  # (B, (H + 2 H_kv) d_k)
        if rotary:
            qk = qkv.narrow(1, 0, Hd + KVd).view(B, H + H_kv, d_k)
            qk = torch.addcmul(qk * cos, qk.roll(half, -1), sin)
            q, k = qk.narrow(1, 0, H), qk.narrow(1, H, H_kv)
        else:
            q = qkv.narrow(1, 0, Hd).view(B, H, d_k)
            k = qkv.narrow(1, Hd, KVd).view(B, H_kv, d_k)
        v = qkv.narrow(1, Hd + KVd, KVd).view(B, H_kv, d_k)
        buf = cache.kv.select(0, layer)  # (2, B, H_kv, capacity, d_k); methods: [...] indexing costs more here
        keys, values = buf.select(0, 0), buf.select(0, 1)
        keys.select(2, pos).copy_(k)
        values.select(2, pos).copy_(v)
        # the G query heads of a group as G "positions" against their shared keys: no copy of K or V
        y = F.scaled_dot_product_attention(q.reshape(B, H_kv, G, d_k), keys.narrow(2, 0, n), values.narrow(2, 0, n))
        y = y.reshape(B, Hd)
        u = torch.addmm(x, y, Wc.t()) if bc is None else x + F.linear(y, Wc, bc)  # x + W_c^T y (Eq. 11.14)
        if W1 is None:
            x = u
            continue
        z = F.linear(fn.norm(u, g2, b2), W1, bW1)
        if fn.gated:
            g, h = z.split(fn.m, dim=-1)
            z = fn.act(g).mul_(h)
        else:
            z = fn.act(z)
        x = torch.addmm(u, z, W2.t()) if bW2 is None else u + F.linear(z, W2, bW2)
    return x


def forward_cached(model: Transformer, idx: torch.Tensor, cache: KVCache, last_only: bool = True) -> torch.Tensor:
    """Feed idx (B, t), the tokens at positions cache.length.., reusing the cached keys and values.

    Returns the logits of the last position (B, V), or of all t (B, t, V) with ``last_only=False``; equal to
    ``model.forward`` on the whole sequence up to float rounding (tested). Inference only: no dropout, no
    probes. Written with functional calls because a one-token step is all overhead: it is the same
    computation as :class:`engine.model.Block` (pre- or post-LN, Eq. 11.15-11.17) on the new rows only.
    """
    B, t = idx.shape
    start = cache.length
    end = start + t
    cfg = model.cfg
    if not cfg.causal:
        raise UserError("an encoder (bidirectional attention) cannot decode incrementally")
    if model.lm_head is None:
        raise UserError("this model has no unembedding: it cannot predict the next token")
    if end > cfg.context:
        raise UserError(f"the cache holds {start} tokens; {t} more exceed this model's context {cfg.context}")
    if cache.batch != B:
        raise ValueError(f"cache batch {cache.batch} != input batch {B}")
    if cache.weights is None:
        cache.weights = _layer_weights(model)
        cache.math = _Math(cfg)
    cache.ensure(end)
    head = model.lm_head
    if t == 1 and cfg.norm == "pre":
        x = _step_pre_ln(model, idx[:, 0], cache, start)  # (B, d)
        cache.length = end
        logits = head(model.ln_f(x))
        return logits if last_only else logits[:, None]
    fn: _Math = cache.math
    H, H_kv, d_k = cfg.H, cfg.kv_heads, cfg.d_k
    G, Hd, KVd = H // H_kv, H * d_k, H_kv * d_k
    post = cfg.norm == "post"
    x = model.embed(idx, start)  # (B, t, d)
    rope = model.rope(start, end)
    for layer, (g1, b1, Wqkv, bqkv, Wc, bc, g2, b2, W1, bW1, W2, bW2, mask) in enumerate(cache.weights):
        h = x if post else fn.norm(x, g1, b1)
        q, k, v = F.linear(h, Wqkv, bqkv).split([Hd, KVd, KVd], dim=2)  # Eq. 11.10-11.12 for the new positions
        q = q.reshape(B, t, H, d_k).transpose(1, 2)  # (B, H, t, d_k)
        k = k.reshape(B, t, H_kv, d_k).transpose(1, 2)  # (B, H_kv, t, d_k)
        v = v.reshape(B, t, H_kv, d_k).transpose(1, 2)
        if rope is not None:
            cos, sin = rope
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        buf = cache.kv[layer]  # (2, B, H_kv, capacity, d_k)
        buf[0, :, :, start:end] = k  # their keys and values join the cache
        buf[1, :, :, start:end] = v
        keys, values = buf[0, :, :, :end], buf[1, :, :, :end]  # (B, H_kv, end, d_k)
        if t == 1:  # the newest position may look at every cached one: no mask needed
            y = F.scaled_dot_product_attention(q.reshape(B, H_kv, G, d_k), keys, values).reshape(B, H, 1, d_k)
        elif start == 0:
            y = F.scaled_dot_product_attention(q, keys, values, is_causal=True, enable_gqa=G > 1)
        else:  # a chunk after a cached prefix: row i sees positions <= start + i
            y = F.scaled_dot_product_attention(q, keys, values, attn_mask=causal_rows(mask, start, end),
                                               enable_gqa=G > 1)
        a = F.linear(y.transpose(1, 2).reshape(B, t, Hd), Wc, bc)  # Eq. 11.14
        if post:
            u = fn.norm(x + a, g1, b1)  # Eq. 11.15
            x = u if W1 is None else fn.norm(u + fn.ffn(u, W1, bW1, W2, bW2), g2, b2)  # Eq. 11.16-11.17
        else:
            u = x + a
            x = u if W1 is None else u + fn.ffn(fn.norm(u, g2, b2), W1, bW1, W2, bW2)
    cache.length = end
    if last_only:
        x = x[:, -1]
    return head(model.ln_f(x))
