"""Small random Hugging Face folders (config.json, model.safetensors, tokenizer.json) built with transformers,
the reference the tests compare our loaders and our transformer against."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors, trainers

from bench.transformers_ref import import_transformers
from tests.conftest import SMALL_TEXT

TEXTS = [SMALL_TEXT, "Numbers 0123456789, émigré café naïve 東京 😀 and ... !?"]
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def byte_bpe(vocab: int = 400) -> HFTokenizer:
    """GPT-2's kind: byte-level BPE, with <|endoftext|> (and ChatML's markers) as special tokens."""
    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator(TEXTS, trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials, show_progress=False,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def sentencepiece_bpe(vocab: int = 400) -> HFTokenizer:
    """Llama 2 / TinyLlama's kind: BPE over "▁"-prefixed words with byte fallback, <s> before every text."""
    tok = HFTokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tok.train_from_iterator(TEXTS, trainers.BpeTrainer(vocab_size=vocab + 256, special_tokens=specials,
                                                       show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return tok


def wordpiece(vocab: int = 400) -> HFTokenizer:
    """BERT's kind: lower-cased WordPiece, [CLS] text [SEP]."""
    tok = HFTokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(TEXTS, trainers.WordPieceTrainer(vocab_size=vocab, special_tokens=specials,
                                                             show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def save_tokenizer(tok: HFTokenizer, folder: Path, **special: str) -> None:
    tr = import_transformers()
    fast = tr.PreTrainedTokenizerFast(tokenizer_object=tok, **special)
    fast.save_pretrained(str(folder))


def build(kind: str, folder: Path, seed: int = 0, context: int = 640) -> Path:
    """A random model of ``kind`` (gpt2, bert, llama, llama-gqa, qwen2) saved by transformers in ``folder``."""
    tr = import_transformers()
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "gpt2":
        tok = byte_bpe()
        cfg = tr.GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=context, n_embd=64, n_layer=2, n_head=4,
                            bos_token_id=0, eos_token_id=0)
        model = tr.GPT2LMHeadModel(cfg)
        save_tokenizer(tok, folder, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    elif kind == "bert":
        tok = wordpiece()
        cfg = tr.BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=64, num_hidden_layers=2,
                            num_attention_heads=4, intermediate_size=128, max_position_embeddings=context)
        model = tr.BertModel(cfg, add_pooling_layer=False)
        save_tokenizer(tok, folder, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]",
                       mask_token="[MASK]")
    elif kind in ("llama", "llama-gqa", "qwen2"):
        tok = sentencepiece_bpe() if kind != "qwen2" else byte_bpe()
        common = dict(vocab_size=tok.get_vocab_size() + 3, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2 if kind != "llama" else 4,
                      max_position_embeddings=context)
        if kind == "qwen2":
            cfg = tr.Qwen2Config(**common, tie_word_embeddings=True, rope_theta=1e6)
            model = tr.Qwen2ForCausalLM(cfg)
            with torch.no_grad():  # transformers initialises biases to 0: make them count
                for layer in model.model.layers:
                    for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                        proj.bias.normal_(0, 0.5)
            save_tokenizer(tok, folder, bos_token="<|endoftext|>", eos_token="<|im_end|>", chat_template=CHATML)
        else:
            cfg = tr.LlamaConfig(**common, bos_token_id=tok.token_to_id("<s>"), eos_token_id=tok.token_to_id("</s>"),
                                 tie_word_embeddings=False)
            model = tr.LlamaForCausalLM(cfg)
            save_tokenizer(tok, folder, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    else:
        raise ValueError(kind)
    with torch.no_grad():  # norms initialised to 1 and 0 would hide a wrong mapping: make them random
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name.lower() or "ln" in name):
                p.uniform_(0.5, 1.5) if name.endswith("weight") else p.normal_(0, 0.1)
    model.eval().save_pretrained(str(folder), safe_serialization=True)
    return folder


def hf_model(folder: Path):  # noqa: ANN201
    """The transformers model of a folder built by :func:`build`, float32, eager attention (which can return
    its attention weights)."""
    tr = import_transformers()
    return tr.AutoModel.from_pretrained(str(folder), attn_implementation="eager", torch_dtype=torch.float32).eval() \
        if (folder / "config.json").read_text().count('"bert"') else \
        tr.AutoModelForCausalLM.from_pretrained(str(folder), attn_implementation="eager",
                                                torch_dtype=torch.float32).eval()


def build_llama_for_gguf(folder: Path, seed: int = 7) -> Path:
    """A random grouped-query Llama with a byte-level BPE tokenizer and a tied unembedding (what a GGUF of the
    SmolLM2 kind holds), saved by transformers."""
    tr = import_transformers()
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    tok = byte_bpe()
    cfg = tr.LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True, rope_theta=100000.0, rms_norm_eps=1e-5,
                         bos_token_id=tok.token_to_id("<|im_start|>"), eos_token_id=tok.token_to_id("<|im_end|>"))
    model = tr.LlamaForCausalLM(cfg)
    with torch.no_grad():
        for _name, p in model.named_parameters():
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)
    model.eval().save_pretrained(str(folder), safe_serialization=True)
    save_tokenizer(tok, folder, bos_token="<|im_start|>", eos_token="<|im_end|>", chat_template=CHATML)
    return folder


def write_gguf(folder: Path, path: Path, qtype: str = "Q8_0", arch: str = "llama", **meta: object) -> Path:
    """The model of :func:`build_llama_for_gguf` as a GGUF file, written the way llama.cpp's converter does
    (q and k rows permuted for its rotary layout; matrices quantised to ``qtype``). ``meta`` overrides
    metadata (None removes a key) to make broken files."""
    import json

    import gguf
    import numpy as np
    from safetensors.torch import load_file

    raw = json.loads((folder / "config.json").read_text())
    tokjs = json.loads((folder / "tokenizer.json").read_text())
    tensors = load_file(str(folder / "model.safetensors"))
    weights = {k.removeprefix("model."): v.float().numpy() for k, v in tensors.items()}
    H, H_kv = raw["num_attention_heads"], raw["num_key_value_heads"]
    values: dict[str, object] = {
        "block_count": raw["num_hidden_layers"], "context_length": raw["max_position_embeddings"],
        "embedding_length": raw["hidden_size"], "feed_forward_length": raw["intermediate_size"],
        "attention.head_count": H, "attention.head_count_kv": H_kv,
        "rope.freq_base": float((raw.get("rope_parameters") or raw)["rope_theta"]),
        "attention.layer_norm_rms_epsilon": float(raw["rms_norm_eps"]), "vocab_size": raw["vocab_size"]}
    w = gguf.GGUFWriter(str(path), arch)
    vocab = sorted(tokjs["model"]["vocab"].items(), key=lambda kv: kv[1])
    added = {t["id"]: t["content"] for t in tokjs["added_tokens"]}
    tokens = [added.get(i, t) for t, i in vocab]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tokjs["model"]["merges"]]
    tok_meta: dict[str, object] = {
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt2", "tokenizer.ggml.tokens": tokens,
        "tokenizer.ggml.token_type": [3 if i in added else 1 for i in range(len(tokens))],
        "tokenizer.ggml.merges": merges, "tokenizer.ggml.bos_token_id": raw["bos_token_id"],
        "tokenizer.ggml.eos_token_id": raw["eos_token_id"], "tokenizer.ggml.add_bos_token": False,
        "tokenizer.chat_template": CHATML}
    for key, value in {**{f"{arch}.{k}": v for k, v in values.items()}, **tok_meta}.items():
        value = meta.pop(key, value)
        if value is None:
            continue
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value) if value < 1 << 32 else w.add_uint64(key, value)
        elif isinstance(value, float):
            w.add_float32(key, value)
        elif isinstance(value, str):
            w.add_string(key, value)
        else:
            w.add_array(key, list(value))

    def permute(m: np.ndarray, heads: int) -> np.ndarray:
        return m.reshape(heads, 2, m.shape[0] // heads // 2, m.shape[1]).swapaxes(1, 2).reshape(m.shape)

    def add(name: str, m: np.ndarray) -> None:
        m = np.ascontiguousarray(m, dtype=np.float32)
        if m.ndim == 2 and qtype != "F32":
            kind = gguf.GGMLQuantizationType[qtype]
            w.add_tensor(name, gguf.quants.quantize(m, kind), raw_dtype=kind)
        else:
            w.add_tensor(name, m)

    add("token_embd.weight", weights["embed_tokens.weight"])
    for i in range(raw["num_hidden_layers"]):
        p, b = f"layers.{i}.", f"blk.{i}."
        add(b + "attn_norm.weight", weights[p + "input_layernorm.weight"])
        add(b + "attn_q.weight", permute(weights[p + "self_attn.q_proj.weight"], H))
        add(b + "attn_k.weight", permute(weights[p + "self_attn.k_proj.weight"], H_kv))
        add(b + "attn_v.weight", weights[p + "self_attn.v_proj.weight"])
        add(b + "attn_output.weight", weights[p + "self_attn.o_proj.weight"])
        add(b + "ffn_norm.weight", weights[p + "post_attention_layernorm.weight"])
        add(b + "ffn_gate.weight", weights[p + "mlp.gate_proj.weight"])
        add(b + "ffn_up.weight", weights[p + "mlp.up_proj.weight"])
        add(b + "ffn_down.weight", weights[p + "mlp.down_proj.weight"])
    add("output_norm.weight", weights["norm.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
