"""A transformer written to mirror the lecture (seed 002, Eq. 11.10-11.21), with the variants real models use.

Names follow the math: d (model width), d_k (key size per head, d / H), m (feed-forward width),
H (heads), L (blocks), T (context length). Shape comments use B (batch), T (tokens), V (vocabulary).

The default configuration is the lecture's decoder (a GPT): learned positions, LayerNorm, a ReLU or GELU
feed-forward layer, multi-head causal attention, tied unembedding. One class covers the model families
the course names (seed 003: decoders such as GPT-2 and Llama, encoders such as BERT) through options, not
copies:

- causal (decoder) or bidirectional (encoder) attention, with a padding mask (``attention_mask``);
- LayerNorm (Eq. 11.18-11.20) after the residual (post-LN, Eq. 11.15/11.17, the lecture's form and BERT's)
  or before each sub-layer (pre-LN, GPT-2, Llama), or RMSNorm (LayerNorm without the mean and beta);
- learned, sinusoidal, rotary (Llama) or no positions;
- a ReLU (Eq. 11.16) / GELU feed-forward layer, or SwiGLU: z' = W_2^T (silu(W_g^T u) * W_1^T u), or none
  (``mlp="none"``: an attention-only model, Olsson et al. 2022);
- multi-head or grouped-query attention (H_kv key/value heads shared by H query heads);
- tied or separate unembedding, or none (an encoder that outputs its hidden states);
- token-type embeddings and a LayerNorm of the embeddings (BERT), biases or not.

Probes: with ``probe=Probe(...)`` the forward pass computes attention explicitly and returns, per
layer and head, the weights alpha (Eq. 11.13), and optionally q, k, v, the scaled scores before the
softmax, and the residual stream after each block. Without probes it takes the fused
``scaled_dot_product_attention`` path, which never forms the T x T matrix.

Incremental decoding: :meth:`Transformer.forward_cached` with a :class:`KVCache` (engine.kvcache) feeds only
the new tokens and reuses the keys and values of the earlier positions (they never change in a causal
model), so one generation step costs one position instead of the whole window (engine.decoding, seed 001).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.attention import (  # noqa: F401  (re-exported: the names older code imports from here)
    MASK_KEPT,
    Rotary,
    SelfAttention,
    causal_mask,
    causal_rows,
)
from engine.errors import UserError
from engine.validate import check_memory, choice, flag_bool, real, whole

MAX_PARAMETERS = 2_000_000_000
MAX_VOCAB = 2**24
MAX_CONTEXT = 65_536  # what a model trained here may have
MAX_MODEL_CONTEXT = 1 << 20  # what a model opened from another format may declare (Llama 3: 131,072)
MAX_WIDTH = 65_536
MAX_HEADS = 4_096
MAX_LAYERS = 1_024
MAX_TYPES = 1_024

POSITIONALS = ("learned", "sinusoidal", "rotary", "none")
NORMS = ("pre", "post")
NORM_KINDS = ("layernorm", "rmsnorm")
ACTIVATIONS = ("gelu", "gelu_tanh", "relu", "silu")
MLPS = ("plain", "swiglu", "none")


@dataclass
class ModelConfig:
    vocab_size: int
    context: int = 64  # T: the longest input the model sees
    d: int = 128  # model width
    H: int = 4  # heads per block
    L: int = 4  # blocks
    m: int = 0  # feed-forward width; 0 means 4 d
    positional: str = "learned"  # "learned" | "sinusoidal" | "rotary" (Llama) | "none"
    norm: str = "pre"  # "pre" (GPT-2, Llama) | "post" (lecture, Eq. 11.15 and 11.17; BERT)
    activation: str = "gelu"  # "gelu" | "relu" (Eq. 11.16) | "gelu_tanh" (GPT-2) | "silu" (SwiGLU's gate)
    tied: bool = True  # unembedding = embedding transposed
    dropout: float = 0.0
    bias: bool = False  # biases in every linear map; the lecture's Eq. 11.10-11.16 have none
    # --- variants of real models; the defaults are the model above ---------------------------------
    causal: bool = True  # False: bidirectional attention (an encoder, BERT)
    norm_kind: str = "layernorm"  # "layernorm" (Eq. 11.18) | "rmsnorm" (Llama)
    norm_eps: float = 1e-5  # epsilon inside the norm's square root
    mlp: str = "plain"  # "plain" (Eq. 11.16) | "swiglu" (gated: W_2^T (act(W_g^T u) * W_1^T u)) | "none"
    # ("none": an attention-only model, no feed-forward layer and no norm before it; Olsson et al. 2022)
    H_kv: int = 0  # key/value heads; 0 means H; fewer means grouped-query attention
    rope_theta: float = 10000.0  # base of the rotary angles (positional "rotary")
    qkv_bias: bool = False  # biases on the query/key/value maps only (Qwen2)
    final_norm: bool | None = None  # a norm before the unembedding; None: pre-LN models have one
    type_vocab: int = 0  # token-type (segment) embeddings (BERT: 2)
    embed_norm: bool = False  # a LayerNorm of the embeddings (BERT)
    lm_head: bool = True  # False: no unembedding; the model outputs its final hidden states

    def __post_init__(self) -> None:
        where = "model settings"
        self.vocab_size = whole(self.vocab_size, "vocab_size", 1, MAX_VOCAB, where)
        self.context = whole(self.context, "context", 1, MAX_MODEL_CONTEXT, where)
        self.d = whole(self.d, "d", 1, MAX_WIDTH, where)
        self.H = whole(self.H, "H", 1, MAX_HEADS, where)
        self.L = whole(self.L, "L", 1, MAX_LAYERS, where)
        self.m = whole(self.m, "m", 0, 4 * MAX_WIDTH, where)
        if self.m == 0:
            self.m = 4 * self.d
        if self.d % self.H:
            raise UserError(f"d-model {self.d} must be divisible by the number of heads {self.H}")
        choice(self.positional, "positional", POSITIONALS, where)
        choice(self.norm, "norm", NORMS, where)
        choice(self.activation, "activation", ACTIVATIONS, where)
        flag_bool(self.tied, "tied", where)
        flag_bool(self.bias, "bias", where)
        self.dropout = real(self.dropout, "dropout", 0.0, 1.0, where, hi_open=True)
        flag_bool(self.causal, "causal", where)
        choice(self.norm_kind, "norm_kind", NORM_KINDS, where)
        self.norm_eps = real(self.norm_eps, "norm_eps", 0.0, 1.0, where, lo_open=True)
        choice(self.mlp, "mlp", MLPS, where)
        self.H_kv = whole(self.H_kv, "H_kv", 0, self.H, where)
        if self.H % self.kv_heads:
            raise UserError(f"{where}: the {self.H} query heads cannot be shared evenly by {self.H_kv} "
                            "key/value heads")
        self.rope_theta = real(self.rope_theta, "rope_theta", 1.0, 1e12, where)
        if self.positional == "rotary" and self.d_k % 2:
            raise UserError(f"{where}: rotary positions need an even head size (d_k = {self.d_k})")
        flag_bool(self.qkv_bias, "qkv_bias", where)
        if self.final_norm is None:
            self.final_norm = self.norm == "pre"
        flag_bool(self.final_norm, "final_norm", where)
        self.type_vocab = whole(self.type_vocab, "type_vocab", 0, MAX_TYPES, where)
        flag_bool(self.embed_norm, "embed_norm", where)
        flag_bool(self.lm_head, "lm_head", where)
        if not self.lm_head:
            self.tied = False

    @property
    def d_k(self) -> int:
        return self.d // self.H

    @property
    def kv_heads(self) -> int:
        """H_kv, with 0 read as H."""
        return self.H_kv or self.H

    def norm_params(self) -> int:
        return 2 * self.d if self.norm_kind == "layernorm" else self.d  # gamma (and beta)

    def parameter_count(self) -> int:
        """Parameters of :class:`Transformer` for this config, by arithmetic (nothing is allocated)."""
        d, m, V, L = self.d, self.m, self.vocab_size, self.L
        b = 1 if self.bias else 0
        qkv = (self.H + 2 * self.kv_heads) * self.d_k  # rows of W_qkv
        qkv_b = 1 if self.bias or self.qkv_bias else 0
        gates = 2 if self.mlp == "swiglu" else 1
        ffn = 0 if self.mlp == "none" else self.norm_params() + gates * (d * m + m * b) + (m * d + d * b)
        block = self.norm_params() + (d * qkv + qkv * qkv_b) + (d * d + d * b) + ffn
        total = V * d + L * block + (self.context * d if self.positional == "learned" else 0)
        total += self.type_vocab * d + (self.norm_params() if self.embed_norm else 0)
        total += self.norm_params() if self.final_norm else 0
        total += V * d if self.lm_head and not self.tied else 0
        return total

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every tensor a checkpoint stores for this config (a tied unembedding once)."""
        d, m, b = self.d, self.m, self.bias
        qkv = (self.H + 2 * self.kv_heads) * self.d_k
        layernorm = self.norm_kind == "layernorm"

        def norm(name: str) -> dict[str, tuple[int, ...]]:
            return {name + ".weight": (d,), **({name + ".bias": (d,)} if layernorm else {})}

        shapes: dict[str, tuple[int, ...]] = {"wte.weight": (self.vocab_size, d)}
        if self.positional == "learned":
            shapes["wpe.weight"] = (self.context, d)
        if self.type_vocab:
            shapes["wtt.weight"] = (self.type_vocab, d)
        if self.embed_norm:
            shapes |= norm("ln_e")
        for i in range(self.L):
            p = f"blocks.{i}."
            shapes |= norm(p + "ln_1") | {p + "attn.W_qkv.weight": (qkv, d), p + "attn.W_c.weight": (d, d)}
            if b or self.qkv_bias:
                shapes[p + "attn.W_qkv.bias"] = (qkv,)
            if b:
                shapes[p + "attn.W_c.bias"] = (d,)
            if self.mlp == "none":
                continue
            shapes |= norm(p + "ln_2")
            if self.mlp == "swiglu":
                shapes[p + "ffn.W_gu.weight"] = (2 * m, d)
            else:
                shapes[p + "ffn.W_1.weight"] = (m, d)
            shapes[p + "ffn.W_2.weight"] = (d, m)
            if b:
                shapes[p + "ffn.W_2.bias"] = (d,)
                if self.mlp == "swiglu":
                    shapes[p + "ffn.W_gu.bias"] = (2 * m,)
                else:
                    shapes[p + "ffn.W_1.bias"] = (m,)
        if self.final_norm:
            shapes |= norm("ln_f")
        if self.lm_head and not self.tied:
            shapes["lm_head.weight"] = (self.vocab_size, d)
        return shapes

    def model_bytes(self) -> int:
        """Memory of the built model: float32 weights, the causal mask and the sinusoidal table."""
        table = self.context * self.d * 4 if self.positional == "sinusoidal" else 0
        mask = min(self.context, MASK_KEPT) ** 2 if self.causal else 0
        return 4 * self.parameter_count() + mask + table

    def training_bytes(self, batch: int) -> int:
        """A generous estimate of training memory: weights, gradients and AdamW's two moments (16 bytes a
        parameter) plus the activations kept for the backward pass of one batch."""
        B, T, d, m, H = batch, self.context, self.d, self.m, self.H
        ffn = 0 if self.mlp == "none" else 3 * m
        per_token = self.L * (14 * d + ffn) + 3 * self.vocab_size  # floats per position
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
    """What a probed forward pass records (all off but attention by default).

    ``on_layer``: a streaming hook for long inputs. When set, each layer's attention weights (B, H, T, T)
    and, with ``scores``, its scores (else None) are handed to ``on_layer(layer, attention, scores)`` as
    soon as they are computed and are NOT kept in the trace, so that no more than one layer's (H, T, T)
    is alive at a time.
    """

    attention: bool = True  # alpha, (L, H, T, T) per batch item
    scores: bool = False  # q.k / sqrt(d_k) before the softmax, -inf where masked
    qkv: bool = False  # per-head queries, keys, values (B, H, T, d_k), after rotary positions
    residual: bool = False  # residual stream after each block (B, T, d)
    on_layer: Callable[[int, torch.Tensor, torch.Tensor | None], None] | None = None


@dataclass
class Trace:
    """What a probed forward pass returns; lists are indexed by layer."""

    attention: list[torch.Tensor] = field(default_factory=list)  # each (B, H, T, T), per query head
    scores: list[torch.Tensor] = field(default_factory=list)  # each (B, H, T, T), -inf where masked
    q: list[torch.Tensor] = field(default_factory=list)  # each (B, H, T, d_k)
    k: list[torch.Tensor] = field(default_factory=list)  # keys and values expanded to the H query heads
    v: list[torch.Tensor] = field(default_factory=list)
    residual: list[torch.Tensor] = field(default_factory=list)  # each (B, T, d), embeddings first

    def stacked_attention(self) -> torch.Tensor:
        return torch.stack(self.attention, dim=1)  # (B, L, H, T, T)


def sinusoidal_positions(T: int, d: int) -> torch.Tensor:
    """The fixed encoding of Vaswani et al.: PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(...)."""
    t = torch.arange(T, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d, 2, dtype=torch.float32) / d)
    pe = torch.zeros(T, d)
    pe[:, 0::2] = torch.sin(t * freq)
    pe[:, 1::2] = torch.cos(t * freq[: d // 2])
    return pe  # (T, d)


class RMSNorm(nn.Module):
    """RMSNorm(z; gamma) = gamma z / sqrt(mean(z^2) + eps): Eq. 11.18 without the mean and beta (Llama)."""

    def __init__(self, d: int, eps: float, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d, device=device))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(z, (z.shape[-1],), self.weight, self.eps)


def make_norm(cfg: ModelConfig, device: torch.device | str | None = None) -> nn.Module:
    """LayerNorm (Eq. 11.18-11.20, gamma and beta) or RMSNorm, as the config says."""
    if cfg.norm_kind == "rmsnorm":
        return RMSNorm(cfg.d, cfg.norm_eps, device)
    return nn.LayerNorm(cfg.d, eps=cfg.norm_eps, device=device)


def activation(name: str) -> nn.Module:
    return {"gelu": nn.GELU(), "gelu_tanh": nn.GELU(approximate="tanh"), "relu": nn.ReLU(),
            "silu": nn.SiLU()}[name]


class FeedForward(nn.Module):
    """Eq. 11.16: z' = W_2^T act(W_1^T u), with W_1 in R^{d x m}, W_2 in R^{m x d}.

    SwiGLU (``mlp="swiglu"``, Llama) gates it: z' = W_2^T (act(W_g^T u) * W_1^T u), act = SiLU; W_g and
    W_1 are one matrix ``W_gu`` (2m, d), rows [0, m) W_g and [m, 2m) W_1, so both come from one product.

    ``hook_out``: a hook point (engine.interp.hooks), None unless an intervention is on: it gets the output
    z' (B, T, d) and returns what replaces it.
    """

    hook_out: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __init__(self, cfg: ModelConfig, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.gated = cfg.mlp == "swiglu"
        self.m = cfg.m
        if self.gated:
            self.W_gu = nn.Linear(cfg.d, 2 * cfg.m, bias=cfg.bias, device=device)
        else:
            self.W_1 = nn.Linear(cfg.d, cfg.m, bias=cfg.bias, device=device)
        self.W_2 = nn.Linear(cfg.m, cfg.d, bias=cfg.bias, device=device)
        self.act = activation(cfg.activation)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        if self.gated:
            g, h = self.W_gu(u).split(self.m, dim=-1)  # (B, T, m) each
            out = self.drop(self.W_2(self.act(g) * h))
        else:
            out = self.drop(self.W_2(self.act(self.W_1(u))))
        return out if self.hook_out is None else self.hook_out(out)  # (B, T, d)


class Block(nn.Module):
    """One transformer block f_theta (Eq. 11.15-11.17), post-LN as in the lecture or pre-LN as in GPT-2.
    With ``mlp="none"`` it is attention only: ``ffn`` and ``ln_2`` are None and the block ends after Eq. 11.15."""

    def __init__(self, cfg: ModelConfig, mask: torch.Tensor | None = None, layer: int = 0,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.post_ln = cfg.norm == "post"
        self.ln_1 = make_norm(cfg, device)  # gamma_1, beta_1 (Eq. 11.18-11.20)
        self.attn = SelfAttention(cfg, mask, layer, device)
        attention_only = cfg.mlp == "none"
        self.ln_2 = None if attention_only else make_norm(cfg, device)  # gamma_2, beta_2
        self.ffn = None if attention_only else FeedForward(cfg, device)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, trace: Trace | None = None, probe: Probe | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None,
                key_mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.post_ln:
            u = self.ln_1(x + self.drop(self.attn(x, trace, probe, rope, key_mask)))  # Eq. 11.15
            return u if self.ffn is None else self.ln_2(u + self.ffn(u))  # Eq. 11.17
        u = x + self.drop(self.attn(self.ln_1(x), trace, probe, rope, key_mask))
        return u if self.ffn is None else u + self.ffn(self.ln_2(u))


class Transformer(nn.Module):
    """The composition of L blocks (Eq. 11.21) between an embedding and an unembedding."""

    def __init__(self, cfg: ModelConfig, device: torch.device | str | None = None) -> None:
        """``device="meta"`` builds the structure without allocating or initialising any weight (see
        :meth:`from_weights`)."""
        super().__init__()
        self.cfg = cfg
        self.name = ""  # what messages call it ("smollm2"); set by engine.models.open_model
        self.architecture = "txe-gpt"  # "llama", "bert", "gpt2", ... for models opened from other formats
        self.objective = "next"  # what it was trained for: "next" token, or "mlm" (masked; engine.mlm)
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d, device=device)  # token embeddings (V, d)
        self.wpe = nn.Embedding(cfg.context, cfg.d, device=device) if cfg.positional == "learned" else None  # (T, d)
        if cfg.positional == "sinusoidal":
            self.register_buffer("pe", sinusoidal_positions(cfg.context, cfg.d), persistent=False)
        self.rotary = Rotary(cfg.d_k, cfg.rope_theta) if cfg.positional == "rotary" else None
        self.drop = nn.Dropout(cfg.dropout)
        mask = causal_mask(min(cfg.context, MASK_KEPT)) if cfg.causal else None  # long contexts cost no T^2
        self.blocks = nn.ModuleList(Block(cfg, mask, i, device) for i in range(cfg.L))
        self.ln_f = make_norm(cfg, device) if cfg.final_norm else nn.Identity()
        self.lm_head = nn.Linear(cfg.d, cfg.vocab_size, bias=False, device=device) if cfg.lm_head else None  # (V, d)
        if cfg.tied and self.lm_head is not None:
            self.lm_head.weight = self.wte.weight
        self.wtt = nn.Embedding(cfg.type_vocab, cfg.d, device=device) if cfg.type_vocab else None  # token types
        self.ln_e = make_norm(cfg, device) if cfg.embed_norm else None  # a norm of the embeddings (BERT)
        if device is not None and torch.device(device).type == "meta":
            return  # weights come next (from_weights): nothing to initialise
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

    @classmethod
    def from_weights(cls, cfg: ModelConfig, weights: dict[str, torch.Tensor]) -> Transformer:
        """The model with ``weights`` (the names of :meth:`ModelConfig.weight_shapes`, each checked) as its
        parameters, built without initialising (or allocating) anything first: loading a large model costs
        only its weights."""
        expected = cfg.weight_shapes()
        missing = sorted(set(expected) - set(weights))
        if missing:
            raise UserError(f"the weights lack {missing[0]}")
        for name, shape in expected.items():
            if tuple(weights[name].shape) != shape:
                raise UserError(f"weight {name} is {tuple(weights[name].shape)}, expected {shape}")
        model = cls(cfg, device="meta")
        model.load_state_dict({k: weights[k] for k in expected}, strict=False, assign=True)
        if cfg.tied and model.lm_head is not None:
            model.lm_head.weight = model.wte.weight
        if any(p.is_meta for p in model.parameters()):
            raise UserError("the weights do not cover every parameter of the model")
        return model.eval()

    @property
    def has_lm_head(self) -> bool:
        """False for an encoder without an unembedding: its "logits" are its final hidden states (B, T, d)."""
        return self.lm_head is not None

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def positions(self, start: int, T: int) -> torch.Tensor:
        """The position vectors added to the embeddings (T, d); zeros for rotary or no positions."""
        if self.wpe is not None:
            return self.wpe(torch.arange(start, start + T, device=self.wte.weight.device))  # (T, d)
        if self.cfg.positional == "sinusoidal":
            return self.pe[start:start + T]
        return torch.zeros(T, self.cfg.d, device=self.wte.weight.device, dtype=self.wte.weight.dtype)

    def embed(self, idx: torch.Tensor, start: int = 0, token_types: torch.Tensor | None = None) -> torch.Tensor:
        """Token embeddings + positions (+ token types), normed for BERT: the input of block 1 (B, T, d)."""
        x = self.wte(idx)
        if self.cfg.positional in ("learned", "sinusoidal"):
            x = x + self.positions(start, idx.shape[1])
        if self.wtt is not None:
            x = x + self.wtt(token_types if token_types is not None else torch.zeros_like(idx))
        if self.ln_e is not None:
            x = self.ln_e(x)
        return self.drop(x)

    def rope(self, start: int, end: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        return self.rotary.tables(start, end, self.wte.weight.device) if self.rotary is not None else None

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, probe: Probe | None = None,
                attention_mask: torch.Tensor | None = None, token_types: torch.Tensor | None = None,
                head: bool = True) -> tuple[torch.Tensor, torch.Tensor | None, Trace | None]:
        """idx (B, T) token ids -> logits (B, T, V), the mean cross-entropy if targets, a Trace if probed.

        ``attention_mask`` (B, T): 1 for real tokens, 0 for padding (pad on the right). ``token_types``
        (B, T): BERT's segment ids (zeros by default). A model without an unembedding (``has_lm_head``
        False), or ``head=False``, returns its final hidden states (B, T, d) (after the final norm) in place
        of logits: the unembedding of a large vocabulary at every position is the costliest product when
        only the attention or the last position is wanted.
        """
        B, T = idx.shape
        if T > self.cfg.context:
            raise UserError(f"input is {T} tokens; this model's context is {self.cfg.context}")
        key_mask = None
        if attention_mask is not None:
            if tuple(attention_mask.shape) != (B, T):
                raise ValueError(f"attention_mask {tuple(attention_mask.shape)} != input {(B, T)}")
            if not bool(attention_mask.bool().all()):
                key_mask = attention_mask.bool()
        trace = Trace() if probe is not None else None
        x = self.embed(idx, 0, token_types)
        rope = self.rope(0, T)
        if trace is not None and probe.residual:
            trace.residual.append(x.detach())
        for block in self.blocks:
            x = block(x, trace, probe, rope, key_mask)
            if trace is not None and probe.residual:
                trace.residual.append(x.detach())
        h = self.ln_f(x)
        logits = self.lm_head(h) if self.lm_head is not None and head else h  # (B, T, V), or (B, T, d)
        loss = None
        if targets is not None:
            if self.lm_head is None or not head:
                raise UserError("this model has no unembedding: it cannot be trained to predict tokens")
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss, trace

    def forward_cached(self, idx: torch.Tensor, cache: KVCache, last_only: bool = True) -> torch.Tensor:
        """Feed idx (B, t), the tokens at positions cache.length.., reusing the cached keys and values.

        Returns the logits of the last position (B, V), or of all t (B, t, V) with ``last_only=False``;
        equal to :meth:`forward` on the whole sequence up to float rounding (tested). Inference only (see
        :func:`engine.kvcache.forward_cached`).
        """
        return forward_cached(self, idx, cache, last_only)


GPT = Transformer  # the name the rest of the engine has always used

from engine.kvcache import KVCache, forward_cached  # noqa: E402  (it needs the classes above)
