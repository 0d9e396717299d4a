"""Multi-head self-attention (seed 002, Eq. 11.10-11.14) and its variants.

- **Masks.** A decoder is causal: position i looks at positions j <= i ("masking", seed 002 and 003: -inf
  above the diagonal of the Q/K grid). An encoder (BERT) is bidirectional. Either may get a padding mask
  (B, T), 1 for a real token and 0 for padding: padded keys get -inf scores.
- **Rotary positions** (RoPE, Llama): instead of adding a position vector to the embedding, the query and
  key of position t are rotated by angles t * theta^(-2i/d_k), pair by pair, so that the score q_i . k_j
  depends on the offset i - j. Pairs are (x_i, x_{i + d_k/2}) ("rotate half", as Hugging Face's Llama).
- **Grouped-query attention** (GQA): H query heads share H_kv <= H key/value heads; query head h uses
  key/value head h // (H / H_kv). H_kv = H is the lecture's multi-head attention.

Probes always see H query heads: keys and values are expanded to the query heads they serve.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

if TYPE_CHECKING:
    from engine.model import ModelConfig, Probe, Trace

MASK_KEPT = 4096  # the mask built with the model covers this many positions; longer inputs build their own


def causal_mask(T: int) -> torch.Tensor:
    """(T, T) bool, True on and below the diagonal: position i may look at positions j <= i."""
    return torch.ones(T, T, dtype=torch.bool).tril()


def causal_rows(mask: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """Rows start..end-1 of the causal mask over columns 0..end-1 (from ``mask`` when it is large enough)."""
    if end <= mask.shape[0]:
        return mask[start:end, :end]
    return torch.ones(end - start, end, dtype=torch.bool).tril(diagonal=start)


def allowed_keys(causal: torch.Tensor | None, key_mask: torch.Tensor | None, T: int) -> torch.Tensor | None:
    """(B, 1, T, T) bool, which key each query may look at: causal rows (T, T) and/or the padding mask
    (B, T) of the keys. A query that could see no key at all (a padded position before any real token)
    is let see itself, so that no row of the softmax is empty (its output is never used)."""
    if key_mask is None:
        return causal
    allowed = key_mask[:, None, None, :].bool()  # (B, 1, 1, T)
    if causal is not None:
        allowed = allowed & causal  # (B, 1, T, T)
    else:
        allowed = allowed.expand(-1, -1, T, -1)
    empty = ~allowed.any(-1, keepdim=True)  # (B, 1, T, 1)
    if bool(empty.any()):
        allowed = allowed | (empty & torch.eye(T, dtype=torch.bool, device=allowed.device))
    return allowed


class Rotary:
    """cos and sin of the rotary angles t * theta^(-2i/d_k), computed once up to the longest input seen."""

    def __init__(self, d_k: int, theta: float) -> None:
        self.d_k, self.theta = d_k, theta
        self.cos = self.sin = torch.zeros(0, d_k)

    def tables(self, start: int, end: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin (end - start, d_k) for positions start..end-1."""
        if end > self.cos.shape[0] or self.cos.device != device:
            n = max(end, 2 * self.cos.shape[0], 64)
            inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.d_k, 2, dtype=torch.float32) / self.d_k))
            angles = torch.arange(n, dtype=torch.float32)[:, None] * inv_freq[None, :]  # (n, d_k / 2)
            angles = torch.cat([angles, angles], dim=-1)  # (n, d_k): pair i with i + d_k / 2
            self.cos, self.sin = angles.cos().to(device), angles.sin().to(device)
        return self.cos[start:end], self.sin[start:end]


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x_i, x_{i + d_k/2}) of (..., T, d_k) by its position's angle."""
    return x * cos + rotate_half(x) * sin


def expand_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, H_kv, T, d_k) -> (B, H, T, d_k): each key/value head repeated for the query heads it serves."""
    return x if groups == 1 else x.repeat_interleave(groups, dim=1)


class SelfAttention(nn.Module):
    """Multi-head self-attention, Eq. 11.10-11.14 (causal or bidirectional, rotary or not, grouped or not).

    ``W_qkv`` stacks W_{h,q} for the H query heads, then W_{h,k} and W_{h,v} for the H_kv key/value heads
    (each d x d_k); ``W_c`` stacks W_{h,c}.

    ``hook_z``: a hook point (engine.interp.hooks), None unless an intervention is on. When set, it gets the
    per-head outputs sum_j alpha_ij V(x_j) (B, H, T, d_k) before they are concatenated and projected by W_c
    (Eq. 11.13-11.14) and returns what replaces them; off, it costs one attribute test.
    """

    hook_z: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __init__(self, cfg: ModelConfig, mask: torch.Tensor | None = None, layer: int = 0,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.H, self.H_kv, self.d_k = cfg.H, cfg.kv_heads, cfg.d_k
        self.groups = self.H // self.H_kv
        self.layer = layer
        self.causal = cfg.causal
        self.W_qkv = nn.Linear(cfg.d, (self.H + 2 * self.H_kv) * self.d_k, bias=cfg.bias or cfg.qkv_bias,
                               device=device)
        self.W_c = nn.Linear(self.H * self.d_k, cfg.d, bias=cfg.bias, device=device)
        self.dropout = cfg.dropout
        if mask is None and cfg.causal:
            mask = causal_mask(min(cfg.context, MASK_KEPT))
        self.register_buffer("mask", mask, persistent=False)  # one (T, T) tensor shared by every layer

    def split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape
        H, H_kv, d_k = self.H, self.H_kv, self.d_k
        q, k, v = self.W_qkv(x).split([H * d_k, H_kv * d_k, H_kv * d_k], dim=2)  # Eq. 11.10-11.12
        q = q.view(B, T, H, d_k).transpose(1, 2)  # (B, H, T, d_k)
        k = k.view(B, T, H_kv, d_k).transpose(1, 2)  # (B, H_kv, T, d_k)
        v = v.view(B, T, H_kv, d_k).transpose(1, 2)
        return q, k, v

    def forward(self, x: torch.Tensor, trace: Trace | None = None, probe: Probe | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, _ = x.shape
        q, k, v = self.split_heads(x)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        causal = causal_rows(self.mask, 0, T) if self.causal else None
        allowed = allowed_keys(causal, key_mask, T)
        if probe is None:  # fused kernel: never forms the T x T matrix
            drop = self.dropout if self.training else 0.0
            if key_mask is None and self.causal:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=drop,
                                                   enable_gqa=self.groups > 1)
            else:
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=drop,
                                                   enable_gqa=self.groups > 1)
        else:
            k, v = expand_kv(k, self.groups), expand_kv(v, self.groups)  # (B, H, T, d_k)
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_k)  # (B, H, T, T), Eq. 11.13's argument
            if allowed is not None:
                scores = scores.masked_fill(~allowed, float("-inf"))  # no looking ahead, no padding
            alpha = torch.softmax(scores, dim=-1)  # (B, H, T, T), Eq. 11.13; exactly 0 where masked
            if self.training and self.dropout:
                alpha = F.dropout(alpha, self.dropout)
            y = alpha @ v  # (B, H, T, d_k): sum_j alpha_ij V(x_j)
            if trace is not None:
                if probe.on_layer is not None:  # streamed: handed over, never kept
                    probe.on_layer(self.layer, alpha.detach(), scores.detach() if probe.scores else None)
                else:
                    if probe.attention:
                        trace.attention.append(alpha.detach())
                    if probe.scores:
                        trace.scores.append(scores.detach())
                if probe.qkv:
                    trace.q.append(q.detach())
                    trace.k.append(k.detach())
                    trace.v.append(v.detach())
        if self.hook_z is not None:
            y = self.hook_z(y)  # (B, H, T, d_k): the per-head outputs, switched off or patched
        y = y.transpose(1, 2).reshape(B, T, self.H * self.d_k)  # concatenate heads
        return self.W_c(y)  # Eq. 11.14: sum over heads of W_{h,c}^T (...)


class CrossAttention(nn.Module):
    """Encoder-decoder ("cross") attention of the transformer (Vaswani et al. 2017): the decoder's states
    are the queries, the encoder's states the keys and values, multi-head as Eq. 11.10-11.14. It is seed
    002 11.2.1's attention with "the current state of the decoder ... as the query" and "the state of the
    encoder ... as both the keys and values", made multi-head and applied at every decoder position.

    ``forward(x (B, T, d), memory (B, S, d), memory_mask (B, S) bool or None, need_weights)`` returns the
    output (B, T, d) and, with ``need_weights``, the weights alpha (B, H, T, S) (each row sums to 1,
    exactly 0 on padded source positions); without it, the fused kernel and None.
    """

    def __init__(self, cfg: ModelConfig, layer: int = 0, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.H, self.d_k, self.layer = cfg.H, cfg.d_k, layer
        self.W_q = nn.Linear(cfg.d, self.H * self.d_k, bias=cfg.bias, device=device)  # W_{h,q}, stacked
        self.W_kv = nn.Linear(cfg.d, 2 * self.H * self.d_k, bias=cfg.bias, device=device)  # W_{h,k}, W_{h,v}
        self.W_c = nn.Linear(self.H * self.d_k, cfg.d, bias=cfg.bias, device=device)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None = None,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, _ = x.shape
        S = memory.shape[1]
        q = self.W_q(x).view(B, T, self.H, self.d_k).transpose(1, 2)  # (B, H, T, d_k)
        k, v = self.W_kv(memory).view(B, S, 2, self.H, self.d_k).permute(2, 0, 3, 1, 4)  # 2 x (B, H, S, d_k)
        allowed = memory_mask[:, None, None, :].bool() if memory_mask is not None else None  # (B, 1, 1, S)
        alpha = None
        if not need_weights:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed,
                                               dropout_p=self.dropout if self.training else 0.0)
        else:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_k)  # (B, H, T, S)
            if allowed is not None:
                scores = scores.masked_fill(~allowed, float("-inf"))
            alpha = torch.softmax(scores, dim=-1)  # (B, H, T, S): which source positions each query reads
            y = (F.dropout(alpha, self.dropout) if self.training and self.dropout else alpha) @ v
        y = y.transpose(1, 2).reshape(B, T, self.H * self.d_k)
        return self.W_c(y), alpha
