"""A llama-architecture GGUF file (SmolLM2's) as our transformer: settings from its metadata, weights
dequantised to float32, the tokenizer from its vocabulary.

Tensor names: ``token_embd`` (also the unembedding when there is no ``output``), per block ``attn_norm``,
``attn_q/k/v``, ``attn_output``, ``ffn_norm``, ``ffn_gate/up/down``, and ``output_norm``.

The pitfall: llama.cpp stores the rows of ``attn_q`` and ``attn_k`` of each head permuted for its
interleaved rotary layout (pairs (x_2i, x_2i+1)); Hugging Face's Llama and ours rotate pairs
(x_i, x_{i + d_k/2}). Undoing the permutation per head ((d_k/2, 2) -> (2, d_k/2)) gives the same model as
transformers' loader; mixing the two gives a model that runs and talks nonsense.
"""

from __future__ import annotations

from typing import Any

import torch

from engine.errors import UserError
from engine.model import MAX_MODEL_CONTEXT, ModelConfig
from engine.models.gguf_file import GGUFFile
from engine.validate import real, whole

ARCHITECTURES = ("llama",)


def _num(meta: dict, key: str, where: str, default: Any = None, lo: int = 1, hi: int = 1 << 30) -> int:
    value = meta.get(key, default)
    if value is None:
        raise UserError(f"{where}: the metadata lack {key}")
    return whole(int(value) if not isinstance(value, bool) and isinstance(value, int) else value, key, lo, hi, where)


def gguf_config(g: GGUFFile) -> ModelConfig:
    """Our settings from a llama GGUF's metadata (every number range-checked)."""
    where = str(g.path)
    meta = g.metadata
    arch = meta.get("general.architecture")
    if arch not in ARCHITECTURES:
        raise UserError(f"{where}: GGUF architecture {str(arch)[:30]!r} is not supported; this build reads llama "
                        "GGUF files (and Hugging Face folders of GPT-2, BERT and Llama-family models)")
    a = f"{arch}."
    if meta.get(a + "expert_count"):
        raise UserError(f"{where}: mixture-of-experts models are not supported")
    scaling = meta.get(a + "rope.scaling.type", "none")
    if scaling not in ("none", None) or "rope_freqs.weight" in g.tensors:
        raise UserError(f"{where}: rotary scaling ({str(scaling)[:20]}) is not supported")
    d = _num(meta, a + "embedding_length", where)
    H = _num(meta, a + "attention.head_count", where)
    H_kv = _num(meta, a + "attention.head_count_kv", where, H)
    tokens = meta.get("tokenizer.ggml.tokens")
    V = _num(meta, a + "vocab_size", where, len(tokens) if isinstance(tokens, list) else None)
    if d % H:
        raise UserError(f"{where}: embedding_length {d} is not divisible by head_count {H}")
    rope_dim = meta.get(a + "rope.dimension_count", d // H)
    if rope_dim != d // H:
        raise UserError(f"{where}: rotary positions on {str(rope_dim)[:12]} of {d // H} dimensions per head are not "
                        "supported")
    context = _num(meta, a + "context_length", where, 2048, hi=MAX_MODEL_CONTEXT)
    return ModelConfig(vocab_size=V, context=context, d=d, H=H,
                       L=_num(meta, a + "block_count", where), m=_num(meta, a + "feed_forward_length", where),
                       positional="rotary", norm="pre", activation="silu", tied="output.weight" not in g.tensors,
                       bias=False, norm_kind="rmsnorm",
                       norm_eps=real(meta.get(a + "attention.layer_norm_rms_epsilon", 1e-5), "rms epsilon", 0, 1,
                                     where, lo_open=True),
                       mlp="swiglu", H_kv=H_kv, rope_theta=real(meta.get(a + "rope.freq_base", 10000.0),
                                                                "rope.freq_base", 1.0, 1e12, where))


def unpermute(w: torch.Tensor, heads: int) -> torch.Tensor:
    """Rows of one GGUF ``attn_q`` / ``attn_k`` (heads d_k, d) back in rotate-half order (see the module
    docstring): per head (d_k/2, 2) -> (2, d_k/2)."""
    rows, cols = w.shape
    return w.reshape(heads, rows // heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def sources(cfg: ModelConfig) -> dict[str, list[str]]:
    """Our tensor name -> the GGUF tensors stacked to make it."""
    out = {"wte.weight": ["token_embd.weight"], "ln_f.weight": ["output_norm.weight"]}
    for i in range(cfg.L):
        p, b = f"blocks.{i}.", f"blk.{i}."
        out |= {p + "ln_1.weight": [b + "attn_norm.weight"], p + "ln_2.weight": [b + "ffn_norm.weight"],
                p + "attn.W_qkv.weight": [b + "attn_q.weight", b + "attn_k.weight", b + "attn_v.weight"],
                p + "attn.W_c.weight": [b + "attn_output.weight"],
                p + "ffn.W_gu.weight": [b + "ffn_gate.weight", b + "ffn_up.weight"],
                p + "ffn.W_2.weight": [b + "ffn_down.weight"]}
    if not cfg.tied:
        out["lm_head.weight"] = ["output.weight"]
    return out


def gguf_weights(g: GGUFFile, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Our weights from the file: shapes checked against ``cfg`` from the tensor table before any
    dequantisation, q and k un-permuted, every value finite."""
    where = str(g.path)
    expected = cfg.weight_shapes()
    plan = sources(cfg)
    for ours, names in plan.items():
        for n in names:
            if n not in g.tensors:
                raise UserError(f"{where}: the file lacks tensor {n}")
        rows = sum(g.tensors[n].shape[0] for n in names)
        rest = {g.tensors[n].shape[1:] for n in names}
        if len(rest) != 1 or (rows, *rest.pop()) != expected[ours]:
            shown = ", ".join(f"{n} {g.tensors[n].shape}" for n in names)
            raise UserError(f"{where}: {shown} do not fit the model its metadata describe (expected "
                            f"{expected[ours]})")
    out = {}
    for ours, names in plan.items():
        t = torch.empty(expected[ours], dtype=torch.float32)  # stacked parts are dequantised in place
        row = 0
        for n in names:
            rows = g.tensors[n].shape[0]
            part = t.narrow(0, row, rows)
            heads = cfg.H if n.endswith("attn_q.weight") else cfg.kv_heads if n.endswith("attn_k.weight") else 0
            if heads:
                part.copy_(unpermute(g.tensor(n), heads))
            else:
                g.tensor(n, out=part)
            row += rows
        out[ours] = t
    return out
