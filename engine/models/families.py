"""The three model families of Hugging Face folders, as settings of our one transformer and a map of their
weights onto ours.

- **GPT-2** (``model_type`` gpt2): pre-LN, learned positions, GELU (tanh form), biases, tied unembedding;
  its ``Conv1D`` weights are stored (in, out).
- **BERT** (bert): an encoder; post-LN as in the lecture (Eq. 11.15, 11.17), learned positions, token
  types, a LayerNorm of the embeddings, GELU, biases; no masked-LM head is read (the model outputs its
  hidden states).
- **Llama** (llama, and the Llama-shaped qwen2 and mistral): pre-RMSNorm, rotary positions, grouped-query
  attention, SwiGLU, no biases (Qwen2: on q, k, v), tied or separate unembedding.
"""

from __future__ import annotations

from typing import Any

from engine.errors import UserError
from engine.model import MAX_MODEL_CONTEXT, ModelConfig
from engine.models.weights import Recipe, norm_recipes
from engine.validate import real, whole

LLAMA_TYPES = ("llama", "qwen2", "mistral")
SUPPORTED = ("gpt2", "bert", *LLAMA_TYPES)
SUPPORTED_TEXT = ("Hugging Face folders of GPT-2, BERT and Llama-family models (model_type gpt2, bert, llama, "
                  "qwen2, mistral), llama GGUF files and Transformer Explorer checkpoints")
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh",
               "relu": "relu", "silu": "silu", "swish": "silu"}


def _get(raw: dict, key: str, where: str, default: Any = None, lo: int = 1, hi: int = 1 << 30) -> int:
    value = raw.get(key, default)
    return whole(value, key, lo, hi, where)


def _activation(name: Any, where: str) -> str:
    if name not in ACTIVATIONS:
        raise UserError(f"{where}: activation {str(name)[:30]!r} is not supported (use one of "
                        f"{', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]


def _no(raw: dict, key: str, allowed: tuple, where: str, what: str) -> None:
    if raw.get(key, allowed[0]) not in allowed:
        raise UserError(f"{where}: {what} ({key} = {str(raw.get(key))[:40]}) is not supported")


def model_config(raw: dict[str, Any], where: str) -> ModelConfig:
    """Our settings for a Hugging Face config.json (its model_type must be one of :data:`SUPPORTED`)."""
    kind = raw.get("model_type")
    if kind not in SUPPORTED:
        shown = str(kind)[:40] if kind is not None else "missing"
        raise UserError(f"{where}: model_type {shown} is not supported; this build opens {SUPPORTED_TEXT}")
    V = _get(raw, "vocab_size", where)
    if kind == "gpt2":
        for key, ok, what in (("scale_attn_weights", (True,), "unscaled attention"),
                              ("scale_attn_by_inverse_layer_idx", (False,), "attention scaled by layer"),
                              ("add_cross_attention", (False,), "cross-attention")):
            _no(raw, key, ok, where, what)
        d = _get(raw, "n_embd", where, 768)
        return ModelConfig(vocab_size=V, context=_get(raw, "n_positions", where, 1024, hi=MAX_MODEL_CONTEXT), d=d,
                           H=_get(raw, "n_head", where, 12), L=_get(raw, "n_layer", where, 12),
                           m=_get(raw, "n_inner", where, 4 * d) if raw.get("n_inner") is not None else 4 * d,
                           positional="learned", norm="pre",
                           activation=_activation(raw.get("activation_function", "gelu_new"), where),
                           tied=raw.get("tie_word_embeddings", True) is not False, bias=True,
                           norm_eps=real(raw.get("layer_norm_epsilon", 1e-5), "layer_norm_epsilon", 0, 1, where))
    if kind == "bert":
        _no(raw, "position_embedding_type", ("absolute",), where, "relative position embeddings")
        _no(raw, "is_decoder", (False,), where, "a BERT decoder")
        return ModelConfig(vocab_size=V, context=_get(raw, "max_position_embeddings", where, 512, hi=MAX_MODEL_CONTEXT),
                           d=_get(raw, "hidden_size", where), H=_get(raw, "num_attention_heads", where),
                           L=_get(raw, "num_hidden_layers", where), m=_get(raw, "intermediate_size", where),
                           positional="learned", norm="post", activation=_activation(raw.get("hidden_act", "gelu"),
                                                                                     where),
                           tied=False, bias=True, causal=False, final_norm=False,
                           type_vocab=_get(raw, "type_vocab_size", where, 2, lo=0, hi=1024), embed_norm=True,
                           lm_head=False,
                           norm_eps=real(raw.get("layer_norm_eps", 1e-12), "layer_norm_eps", 0, 1, where))
    return _llama_config(raw, kind, V, where)


def _rope_theta(raw: dict, where: str) -> float:
    params = raw.get("rope_parameters") if isinstance(raw.get("rope_parameters"), dict) else {}
    scaling = raw.get("rope_scaling") if isinstance(raw.get("rope_scaling"), dict) else {}
    kind = params.get("rope_type", params.get("type")) or scaling.get("rope_type", scaling.get("type")) or "default"
    if kind != "default":
        raise UserError(f"{where}: rotary scaling {str(kind)[:30]!r} is not supported (only plain rotary positions)")
    theta = params.get("rope_theta", raw.get("rope_theta", 10000.0))
    return real(theta, "rope_theta", 1.0, 1e12, where)


def _llama_config(raw: dict, kind: str, V: int, where: str) -> ModelConfig:
    d = _get(raw, "hidden_size", where)
    H = _get(raw, "num_attention_heads", where)
    H_kv = _get(raw, "num_key_value_heads", where, H)
    head_dim = raw.get("head_dim")
    if head_dim is not None and head_dim != d // H:
        raise UserError(f"{where}: a head size ({str(head_dim)[:12]}) other than hidden_size / heads is not supported")
    context = _get(raw, "max_position_embeddings", where, 2048, hi=MAX_MODEL_CONTEXT)
    window = raw.get("sliding_window")
    if window is not None and (kind == "mistral" or raw.get("use_sliding_window")):
        # attention over a window of W positions is full attention on inputs of at most W tokens
        context = min(context, whole(window, "sliding_window", 1, MAX_MODEL_CONTEXT, where))
    attention_bias = raw.get("attention_bias", False) is True
    if raw.get("mlp_bias", False) is True or attention_bias:
        raise UserError(f"{where}: biases in the attention output or feed-forward maps are not supported")
    return ModelConfig(vocab_size=V, context=context, d=d, H=H, L=_get(raw, "num_hidden_layers", where),
                       m=_get(raw, "intermediate_size", where), positional="rotary", norm="pre",
                       activation=_activation(raw.get("hidden_act", "silu"), where),
                       tied=raw.get("tie_word_embeddings", False) is True, bias=False, norm_kind="rmsnorm",
                       norm_eps=real(raw.get("rms_norm_eps", 1e-6), "rms_norm_eps", 0, 1, where), mlp="swiglu",
                       H_kv=H_kv, rope_theta=_rope_theta(raw, where), qkv_bias=kind == "qwen2")


def recipes(kind: str, cfg: ModelConfig) -> dict[str, Recipe]:
    """Our tensor name -> how to make it from the folder's tensors (names without a "model." prefix)."""
    out: dict[str, Recipe] = {}
    if kind == "gpt2":
        out |= {"wte.weight": Recipe(["wte.weight"]), "wpe.weight": Recipe(["wpe.weight"])}
        for i in range(cfg.L):
            p, h = f"blocks.{i}.", f"h.{i}."
            out |= norm_recipes(p + "ln_1", h + "ln_1", True) | norm_recipes(p + "ln_2", h + "ln_2", True)
            for ours, theirs in (("attn.W_qkv", "attn.c_attn"), ("attn.W_c", "attn.c_proj"), ("ffn.W_1", "mlp.c_fc"),
                                 ("ffn.W_2", "mlp.c_proj")):
                out[p + ours + ".weight"] = Recipe([h + theirs + ".weight"], transpose=True)
                out[p + ours + ".bias"] = Recipe([h + theirs + ".bias"])
        out |= norm_recipes("ln_f", "ln_f", True)
        if not cfg.tied:
            out["lm_head.weight"] = Recipe(["lm_head.weight"])
        return out
    if kind == "bert":
        e = "embeddings."
        out |= {"wte.weight": Recipe([e + "word_embeddings.weight"]),
                "wpe.weight": Recipe([e + "position_embeddings.weight"]),
                "wtt.weight": Recipe([e + "token_type_embeddings.weight"])}
        out |= norm_recipes("ln_e", e + "LayerNorm", True)
        for i in range(cfg.L):
            p, h = f"blocks.{i}.", f"encoder.layer.{i}."
            s = h + "attention.self."
            for part in ("weight", "bias"):
                out[p + "attn.W_qkv." + part] = Recipe([s + f"query.{part}", s + f"key.{part}", s + f"value.{part}"])
                out[p + "attn.W_c." + part] = Recipe([h + f"attention.output.dense.{part}"])
                out[p + "ffn.W_1." + part] = Recipe([h + f"intermediate.dense.{part}"])
                out[p + "ffn.W_2." + part] = Recipe([h + f"output.dense.{part}"])
            out |= norm_recipes(p + "ln_1", h + "attention.output.LayerNorm", True)
            out |= norm_recipes(p + "ln_2", h + "output.LayerNorm", True)
        return out
    out["wte.weight"] = Recipe(["embed_tokens.weight"])
    for i in range(cfg.L):
        p, h = f"blocks.{i}.", f"layers.{i}."
        a = h + "self_attn."
        out[p + "attn.W_qkv.weight"] = Recipe([a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"])
        if cfg.qkv_bias:
            out[p + "attn.W_qkv.bias"] = Recipe([a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"])
        out[p + "attn.W_c.weight"] = Recipe([a + "o_proj.weight"])
        out[p + "ffn.W_gu.weight"] = Recipe([h + "mlp.gate_proj.weight", h + "mlp.up_proj.weight"])
        out[p + "ffn.W_2.weight"] = Recipe([h + "mlp.down_proj.weight"])
        out |= norm_recipes(p + "ln_1", h + "input_layernorm", False)
        out |= norm_recipes(p + "ln_2", h + "post_attention_layernorm", False)
    out |= norm_recipes("ln_f", "norm", False)
    if not cfg.tied:
        out["lm_head.weight"] = Recipe(["lm_head.weight"])
    return out


PREFIXES = {"gpt2": ("", "transformer."), "bert": ("", "bert.", "model."), **{k: ("model.", "") for k in LLAMA_TYPES}}
UNPREFIXED = ("lm_head.weight",)  # names kept as they are whatever the prefix
