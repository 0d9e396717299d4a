"""A decoder-only transformer written to mirror the lecture (seed 002, Eq. 11.10-11.21).

Names follow the math: d (model width), d_k (key size per head, d / H), m (feed-forward width),
H (heads), L (blocks), T (context length). Shape comments use B (batch), T (tokens), V (vocabulary).

Choices the lecture leaves open are options: learned or sinusoidal positions, LayerNorm after the
residual (post-LN, Eq. 11.15/11.17, the lecture's form) or before each sub-layer (pre-LN, GPT-2),
ReLU (Eq. 11.16) or GELU, tied or separate unembedding.

Probes: with ``probe=Probe(...)`` the forward pass computes attention explicitly and returns, per
layer and head, the weights alpha (Eq. 11.13), and optionally q, k, v, the scaled scores before the
softmax, and the residual stream after each block. Without probes it takes the fused
``scaled_dot_product_attention`` path, which never forms the T x T matrix.

Incremental decoding: :meth:`GPT.forward_cached` with a :class:`KVCache` feeds only the new tokens and
reuses the keys and values of the earlier positions (they never change in a causal model), so one
generation step costs one position instead of the whole window (engine.decoding, seed 001).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.errors import UserError
from engine.validate import check_memory, choice, flag_bool, real, whole

MAX_PARAMETERS = 2_000_000_000
MAX_VOCAB = 2**24
MAX_CONTEXT = 65_536
MAX_WIDTH = 65_536
MAX_HEADS = 4_096
MAX_LAYERS = 1_024


@dataclass
class ModelConfig:
    vocab_size: int
    context: int = 64  # T: the longest input the model sees
    d: int = 128  # model width
    H: int = 4  # heads per block
    L: int = 4  # blocks
    m: int = 0  # feed-forward width; 0 means 4 d
    positional: str = "learned"  # "learned" | "sinusoidal"
    norm: str = "pre"  # "pre" (GPT-2) | "post" (lecture, Eq. 11.15 and 11.17)
    activation: str = "gelu"  # "gelu" | "relu" (Eq. 11.16)
    tied: bool = True  # unembedding = embedding transposed
    dropout: float = 0.0
    bias: bool = False  # biases in the linear maps; the lecture's Eq. 11.10-11.16 have none

    def __post_init__(self) -> None:
        where = "model settings"
        self.vocab_size = whole(self.vocab_size, "vocab_size", 1, MAX_VOCAB, where)
        self.context = whole(self.context, "context", 1, MAX_CONTEXT, where)
        self.d = whole(self.d, "d", 1, MAX_WIDTH, where)
        self.H = whole(self.H, "H", 1, MAX_HEADS, where)
        self.L = whole(self.L, "L", 1, MAX_LAYERS, where)
        self.m = whole(self.m, "m", 0, 4 * MAX_WIDTH, where)
        if self.m == 0:
            self.m = 4 * self.d
        if self.d % self.H:
            raise UserError(f"d-model {self.d} must be divisible by the number of heads {self.H}")
        choice(self.positional, "positional", ("learned", "sinusoidal"), where)
        choice(self.norm, "norm", ("pre", "post"), where)
        choice(self.activation, "activation", ("gelu", "relu"), where)
        flag_bool(self.tied, "tied", where)
        flag_bool(self.bias, "bias", where)
        self.dropout = real(self.dropout, "dropout", 0.0, 1.0, where, hi_open=True)

    def parameter_count(self) -> int:
        """Parameters of :class:`GPT` for this config, by arithmetic (nothing is allocated)."""
        d, m, V, L = self.d, self.m, self.vocab_size, self.L
        b = 1 if self.bias else 0
        block = 2 * d + (3 * d * d + 3 * d * b) + (d * d + d * b) + 2 * d + (d * m + m * b) + (m * d + d * b)
        total = V * d + L * block + (self.context * d if self.positional == "learned" else 0)
        total += 2 * d if self.norm == "pre" else 0  # ln_f
        total += 0 if self.tied else V * d
        return total

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every tensor a checkpoint stores for this config (a tied unembedding once)."""
        d, m, b = self.d, self.m, self.bias
        shapes: dict[str, tuple[int, ...]] = {"wte.weight": (self.vocab_size, d)}
        if self.positional == "learned":
            shapes["wpe.weight"] = (self.context, d)
        for i in range(self.L):
            p = f"blocks.{i}."
            shapes |= {p + "ln_1.weight": (d,), p + "ln_1.bias": (d,), p + "attn.W_qkv.weight": (3 * d, d),
                       p + "attn.W_c.weight": (d, d), p + "ln_2.weight": (d,), p + "ln_2.bias": (d,),
                       p + "ffn.W_1.weight": (m, d), p + "ffn.W_2.weight": (d, m)}
            if b:
                shapes |= {p + "attn.W_qkv.bias": (3 * d,), p + "attn.W_c.bias": (d,), p + "ffn.W_1.bias": (m,),
                           p + "ffn.W_2.bias": (d,)}
        if self.norm == "pre":
            shapes |= {"ln_f.weight": (d,), "ln_f.bias": (d,)}
        if not self.tied:
            shapes["lm_head.weight"] = (self.vocab_size, d)
        return shapes

    def model_bytes(self) -> int:
        """Memory of the built model: float32 weights, the causal mask and the sinusoidal table."""
        table = self.context * self.d * 4 if self.positional == "sinusoidal" else 0
        return 4 * self.parameter_count() + min(self.context, MASK_KEPT) ** 2 + table

    def training_bytes(self, batch: int) -> int:
        """A generous estimate of training memory: weights, gradients and AdamW's two moments (16 bytes a
        parameter) plus the activations kept for the backward pass of one batch."""
        B, T, d, m, H = batch, self.context, self.d, self.m, self.H
        per_token = self.L * (14 * d + 3 * m) + 3 * self.vocab_size  # floats per position
        attention = self.L * B * H * T * T * 2 if self.dropout else 0  # the unfused kernel keeps B H T T
        return 16 * self.parameter_count() + self.model_bytes() + 4 * (B * T * per_token + attention)

    def check_size(self, what: str, batch: int | None = None) -> None:
        """Refuse, before anything is allocated, a model above :data:`MAX_PARAMETERS` or one that would
        not fit in memory (see :func:`engine.validate.check_memory`)."""
        n = self.parameter_count()
        if n > MAX_PARAMETERS:
            raise UserError(f"{what}: a model of {n:,} parameters (d={self.d}, L={self.L}, vocabulary "
                            f"{self.vocab_size:,}) is above the limit of {MAX_PARAMETERS:,}")
        needed = self.training_bytes(batch) if batch else 2 * self.model_bytes()  # loading holds two copies
        check_memory(needed, f"{what} (d={self.d}, L={self.L}, H={self.H}, context {self.context}, "
                             f"vocabulary {self.vocab_size:,}{f', batch {batch}' if batch else ''})")

    @property
    def d_k(self) -> int:
        return self.d // self.H

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> ModelConfig:
        if not isinstance(raw, dict):
            raise UserError(f"the model settings must be a JSON object (got {type(raw).__name__})")
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise UserError(f"unknown model settings in checkpoint: {', '.join(sorted(map(str, unknown)))[:200]}")
        if "vocab_size" not in raw:
            raise UserError("the model settings have no vocab_size")
        return cls(**raw)


@dataclass
class Probe:
    """What a probed forward pass records (all off but attention by default)."""

    attention: bool = True  # alpha, (L, H, T, T) per batch item
    scores: bool = False  # q.k / sqrt(d_k) before the mask and softmax
    qkv: bool = False  # per-head queries, keys, values (B, H, T, d_k)
    residual: bool = False  # residual stream after each block (B, T, d)


@dataclass
class Trace:
    """What a probed forward pass returns; lists are indexed by layer."""

    attention: list[torch.Tensor] = field(default_factory=list)  # each (B, H, T, T)
    scores: list[torch.Tensor] = field(default_factory=list)  # each (B, H, T, T), -inf above the diagonal
    q: list[torch.Tensor] = field(default_factory=list)  # each (B, H, T, d_k)
    k: list[torch.Tensor] = field(default_factory=list)
    v: list[torch.Tensor] = field(default_factory=list)
    residual: list[torch.Tensor] = field(default_factory=list)  # each (B, T, d), embeddings first

    def stacked_attention(self) -> torch.Tensor:
        return torch.stack(self.attention, dim=1)  # (B, L, H, T, T)


class KVCache:
    """Keys and values of the first ``length`` positions of every layer, for incremental decoding.

    One preallocated buffer ``kv`` (L, B, T, 2 d): row t holds position t's keys then values (heads
    side by side, as W_qkv makes them). A step writes its position in place instead of growing tensors,
    and beam search reorders all layers' rows with one ``index_select``.
    """

    def __init__(self, cfg: ModelConfig, batch: int, device: torch.device | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        check_memory(4 * cfg.L * batch * cfg.context * 2 * cfg.d, f"a key/value cache for {batch} sequences")
        self.kv = torch.zeros((cfg.L, batch, cfg.context, 2 * cfg.d), device=device, dtype=dtype)
        self.length = 0  # positions filled (the next token goes to position ``length``)
        self.weights: list[tuple] | None = None  # the model's tensors, looked up once per cache (speed)

    @property
    def batch(self) -> int:
        return self.kv.shape[1]

    def reorder(self, index: torch.Tensor) -> None:
        """Row b of the new cache is row ``index[b]`` of the old (beam search: which parent each beam extends)."""
        self.kv = self.kv.index_select(1, index)

    def reset(self) -> None:
        self.length = 0


def causal_mask(T: int) -> torch.Tensor:
    """(T, T) bool, True on and below the diagonal: position i may look at positions j <= i."""
    return torch.ones(T, T, dtype=torch.bool).tril()


MASK_KEPT = 4096  # the mask built with the model covers this many positions; longer inputs build their own


def causal_rows(mask: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """Rows start..end-1 of the causal mask over columns 0..end-1 (from ``mask`` when it is large enough)."""
    if end <= mask.shape[0]:
        return mask[start:end, :end]
    return torch.ones(end - start, end, dtype=torch.bool).tril(diagonal=start)


def sinusoidal_positions(T: int, d: int) -> torch.Tensor:
    """The fixed encoding of Vaswani et al.: PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(...)."""
    t = torch.arange(T, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32) / d)
    pe = torch.zeros(T, d)
    pe[:, 0::2] = torch.sin(t * freq)
    pe[:, 1::2] = torch.cos(t * freq[: d // 2])
    return pe  # (T, d)


class SelfAttention(nn.Module):
    """Multi-head causal self-attention, Eq. 11.10-11.14.

    ``W_qkv`` stacks W_{h,q}, W_{h,k}, W_{h,v} (each d x d_k) for all heads; ``W_c`` stacks W_{h,c}.
    """

    def __init__(self, cfg: ModelConfig, mask: torch.Tensor | None = None) -> None:
        super().__init__()
        self.H, self.d_k = cfg.H, cfg.d_k
        self.W_qkv = nn.Linear(cfg.d, 3 * cfg.d, bias=cfg.bias)
        self.W_c = nn.Linear(cfg.d, cfg.d, bias=cfg.bias)
        self.dropout = cfg.dropout
        if mask is None:
            mask = causal_mask(min(cfg.context, MASK_KEPT))
        self.register_buffer("mask", mask, persistent=False)  # one (T, T) tensor shared by every layer

    def split_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape
        q, k, v = self.W_qkv(x).split(self.H * self.d_k, dim=2)  # Eq. 11.10-11.12, each (B, T, H d_k)
        q = q.view(B, T, self.H, self.d_k).transpose(1, 2)  # (B, H, T, d_k)
        k = k.view(B, T, self.H, self.d_k).transpose(1, 2)
        v = v.view(B, T, self.H, self.d_k).transpose(1, 2)
        return q, k, v

    def forward(self, x: torch.Tensor, trace: Trace | None = None, probe: Probe | None = None) -> torch.Tensor:
        B, T, d = x.shape
        q, k, v = self.split_heads(x)
        if probe is None:  # fused kernel: never forms the T x T matrix
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)
        else:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_k)  # (B, H, T, T), Eq. 11.13's argument
            scores = scores.masked_fill(~causal_rows(self.mask, 0, T), float("-inf"))  # no looking ahead
            alpha = torch.softmax(scores, dim=-1)  # (B, H, T, T), Eq. 11.13; exactly 0 above the diagonal
            if self.training and self.dropout:
                alpha = F.dropout(alpha, self.dropout)
            y = alpha @ v  # (B, H, T, d_k): sum_j alpha_ij V(x_j)
            if trace is not None:
                if probe.attention:
                    trace.attention.append(alpha.detach())
                if probe.scores:
                    trace.scores.append(scores.detach())
                if probe.qkv:
                    trace.q.append(q.detach())
                    trace.k.append(k.detach())
                    trace.v.append(v.detach())
        y = y.transpose(1, 2).reshape(B, T, d)  # concatenate heads
        return self.W_c(y)  # Eq. 11.14: sum over heads of W_{h,c}^T (...)


class FeedForward(nn.Module):
    """Eq. 11.16: z' = W_2^T act(W_1^T u), with W_1 in R^{d x m}, W_2 in R^{m x d}."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.W_1 = nn.Linear(cfg.d, cfg.m, bias=cfg.bias)
        self.W_2 = nn.Linear(cfg.m, cfg.d, bias=cfg.bias)
        self.act = nn.GELU() if cfg.activation == "gelu" else nn.ReLU()
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.drop(self.W_2(self.act(self.W_1(u))))


class Block(nn.Module):
    """One transformer block f_theta (Eq. 11.15-11.17), post-LN as in the lecture or pre-LN as in GPT-2."""

    def __init__(self, cfg: ModelConfig, mask: torch.Tensor | None = None) -> None:
        super().__init__()
        self.post_ln = cfg.norm == "post"
        self.ln_1 = nn.LayerNorm(cfg.d)  # gamma_1, beta_1 (Eq. 11.18-11.20)
        self.attn = SelfAttention(cfg, mask)
        self.ln_2 = nn.LayerNorm(cfg.d)  # gamma_2, beta_2
        self.ffn = FeedForward(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, trace: Trace | None = None, probe: Probe | None = None) -> torch.Tensor:
        if self.post_ln:
            u = self.ln_1(x + self.drop(self.attn(x, trace, probe)))  # Eq. 11.15
            return self.ln_2(u + self.ffn(u))  # Eq. 11.17
        u = x + self.drop(self.attn(self.ln_1(x), trace, probe))
        return u + self.ffn(self.ln_2(u))


class GPT(nn.Module):
    """The composition of L blocks (Eq. 11.21) between an embedding and an unembedding."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d)  # token embeddings (V, d)
        if cfg.positional == "learned":
            self.wpe = nn.Embedding(cfg.context, cfg.d)  # (T, d)
        else:
            self.wpe = None
            self.register_buffer("pe", sinusoidal_positions(cfg.context, cfg.d), persistent=False)
        self.drop = nn.Dropout(cfg.dropout)
        mask = causal_mask(min(cfg.context, MASK_KEPT))  # not context x context: a long context costs no T^2 here
        self.blocks = nn.ModuleList(Block(cfg, mask) for _ in range(cfg.L))
        self.ln_f = nn.LayerNorm(cfg.d) if cfg.norm == "pre" else nn.Identity()
        self.lm_head = nn.Linear(cfg.d, cfg.vocab_size, bias=False)  # unembedding (V, d)
        if cfg.tied:
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith("W_c.weight") or name.endswith("W_2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.L))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def positions(self, start: int, T: int) -> torch.Tensor:
        if self.wpe is not None:
            return self.wpe(torch.arange(start, start + T, device=self.wte.weight.device))  # (T, d)
        return self.pe[start:start + T]

    def embed(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        return self.drop(self.wte(idx) + self.positions(start, idx.shape[1]))  # (B, T, d)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, probe: Probe | None = None,
                ) -> tuple[torch.Tensor, torch.Tensor | None, Trace | None]:
        """idx (B, T) token ids -> logits (B, T, V), the mean cross-entropy if targets, a Trace if probed."""
        B, T = idx.shape
        if T > self.cfg.context:
            raise UserError(f"input is {T} tokens; this model's context is {self.cfg.context}")
        trace = Trace() if probe is not None else None
        x = self.embed(idx)
        if trace is not None and probe.residual:
            trace.residual.append(x.detach())
        for block in self.blocks:
            x = block(x, trace, probe)
            if trace is not None and probe.residual:
                trace.residual.append(x.detach())
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss, trace

    def _cache_weights(self) -> list[tuple]:
        """Per block, the tensors of the cached path, fetched once (module attribute lookups are slow)."""
        out = []
        for blk in self.blocks:
            a, f = blk.attn, blk.ffn
            out.append((blk.ln_1.weight, blk.ln_1.bias, blk.ln_1.eps, a.W_qkv.weight, a.W_qkv.bias, a.W_c.weight,
                        a.W_c.bias, blk.ln_2.weight, blk.ln_2.bias, blk.ln_2.eps, f.W_1.weight, f.W_1.bias,
                        f.W_2.weight, f.W_2.bias, a.mask))
        return out

    def _step_pre_ln(self, idx: torch.Tensor, cache: KVCache, pos: int) -> torch.Tensor:
        """One new token per row at position ``pos`` of a pre-LN model, on (B, d) rows: the fewest ops."""
        cfg = self.cfg
        B, d, H, d_k, n = idx.shape[0], cfg.d, cfg.H, cfg.d_k, pos + 1
        x = self.wte.weight.index_select(0, idx) + (self.wpe.weight if self.wpe is not None else self.pe).select(0, pos)
        relu = cfg.activation == "relu"
        for layer, (g1, b1, e1, Wqkv, bqkv, Wc, bc, g2, b2, e2, W1, bW1, W2, bW2, _) in enumerate(cache.weights):
            qkv = F.linear(F.layer_norm(x, (d,), g1, b1, e1), Wqkv, bqkv)  # (B, 3d)
            buf = cache.kv[layer]  # (B, T, 2d); methods, not [...] indexing, which costs more than the math here
            buf.select(1, pos).copy_(qkv.narrow(1, d, 2 * d))
            kv = buf.narrow(1, 0, n).view(B, n, 2, H, d_k)
            y = F.scaled_dot_product_attention(qkv.narrow(1, 0, d).view(B, H, 1, d_k),
                                               kv.select(2, 0).transpose(1, 2), kv.select(2, 1).transpose(1, 2))
            u = x + F.linear(y.reshape(B, d), Wc, bc)
            z = F.linear(F.layer_norm(u, (d,), g2, b2, e2), W1, bW1)
            x = u + F.linear(F.relu(z) if relu else F.gelu(z), W2, bW2)
        return x

    def forward_cached(self, idx: torch.Tensor, cache: KVCache, last_only: bool = True) -> torch.Tensor:
        """Feed idx (B, t), the tokens at positions cache.length.., reusing the cached keys and values.

        Returns the logits of the last position (B, V), or of all t (B, t, V) with ``last_only=False``;
        equal to :meth:`forward` on the whole sequence up to float rounding (tested). Inference only: no
        dropout, no probes. Written with functional calls because a one-token step is all overhead: it
        is the same computation as :class:`Block` (pre- or post-LN, Eq. 11.15-11.17) on the new rows only.
        """
        B, t = idx.shape
        start = cache.length
        end = start + t
        cfg = self.cfg
        if end > cfg.context:
            raise UserError(f"the cache holds {start} tokens; {t} more exceed this model's context {cfg.context}")
        if cache.batch != B:
            raise ValueError(f"cache batch {cache.batch} != input batch {B}")
        if cache.weights is None:
            cache.weights = self._cache_weights()
        d, H, d_k = cfg.d, cfg.H, cfg.d_k
        post, gelu = cfg.norm == "post", cfg.activation == "gelu"
        if t == 1 and not post:
            x = self._step_pre_ln(idx[:, 0], cache, start)  # (B, d): the hot path of generation
            cache.length = end
            return self.lm_head(self.ln_f(x)) if last_only else self.lm_head(self.ln_f(x))[:, None]
        pos = self.wpe.weight[start:end] if self.wpe is not None else self.pe[start:end]
        x = F.embedding(idx, self.wte.weight) + pos  # (B, t, d)
        for layer, (g1, b1, e1, Wqkv, bqkv, Wc, bc, g2, b2, e2, W1, bW1, W2, bW2, mask) in enumerate(cache.weights):
            h = x if post else F.layer_norm(x, (d,), g1, b1, e1)
            qkv = F.linear(h, Wqkv, bqkv)  # (B, t, 3d): Eq. 11.10-11.12 for the new positions
            buf = cache.kv[layer]  # (B, T, 2d)
            buf[:, start:end] = qkv[:, :, d:]  # their keys and values join the cache
            q = qkv[:, :, :d].reshape(B, t, H, d_k).transpose(1, 2)  # (B, H, t, d_k)
            k = buf[:, :end, :d].unflatten(2, (H, d_k)).transpose(1, 2)  # (B, H, end, d_k)
            v = buf[:, :end, d:].unflatten(2, (H, d_k)).transpose(1, 2)
            if t == 1:  # the newest position may look at every cached one: no mask needed
                y = F.scaled_dot_product_attention(q, k, v)
            elif start == 0:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # a chunk after a cached prefix: row i sees positions <= start + i
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=causal_rows(mask, start, end))
            a = F.linear(y.transpose(1, 2).reshape(B, t, d), Wc, bc)  # Eq. 11.14
            if post:
                u = F.layer_norm(x + a, (d,), g1, b1, e1)  # Eq. 11.15
                z = F.linear(u, W1, bW1)
            else:
                u = x + a
                z = F.linear(F.layer_norm(u, (d,), g2, b2, e2), W1, bW1)
            z = F.linear(F.gelu(z) if gelu else F.relu(z), W2, bW2)  # Eq. 11.16
            x = F.layer_norm(u + z, (d,), g2, b2, e2) if post else u + z  # Eq. 11.17
        cache.length = end
        if last_only:
            x = x[:, -1]
        return self.lm_head(self.ln_f(x))
