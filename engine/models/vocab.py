"""The tokenizers of real models as :class:`engine.tokenizers.Tokenizer`: from a GGUF file's metadata (its
tokens, merges and special token ids) or from a Hugging Face folder's ``tokenizer.json``.

A GGUF of the byte-level BPE family (``tokenizer.ggml.model`` "gpt2") is rebuilt as llama.cpp reads it:
a BPE model over the tokens and merges, the file's pre-tokenizer regexes (``tokenizer.ggml.pre``; SmolLM2's
"smollm" splits digits one by one before GPT-2's rule), the byte-level decoder, and the tokens the file
marks as control (``<|im_start|>``, ``<|im_end|>``, ...) matched whole as special tokens. A SentencePiece
vocabulary ("llama": Llama 2, TinyLlama) gets merges ranked by the tokens' scores, byte fallback and the
"▁" word prefix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from engine.errors import UserError
from engine.files import reason
from engine.tokenizers import Specials, Tokenizer, read_hf_tokenizer

CONTROL, USER_DEFINED = 3, 4  # llama.cpp's token types

_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
_LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# tokenizer.ggml.pre -> the regexes llama.cpp splits the text with, in order
PRE_SPLITS: dict[str, list[str]] = {
    **{name: [r"\p{N}", _GPT2] for name in ("smollm", "starcoder", "refact", "command-r", "codeshell")},
    **{name: [_GPT2] for name in ("gpt2", "default", "mpt", "olmo", "jais")},
    **{name: [_LLAMA3] for name in ("llama3", "llama-bpe", "llama-v3", "smaug-bpe", "dbrx")},
    **{name: [_QWEN2] for name in ("qwen2", "deepseek-r1-qwen", "stablelm2")},
}


def _list(value: Any, what: str, where: str) -> list:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise UserError(f"{where}: {what} is missing or not a list of texts")
    return value


def _token_id(meta: dict, key: str, n: int, where: str) -> int | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
        raise UserError(f"{where}: {key} is {str(value)[:20]}, not a token id below {n:,}")
    return int(value)


def gguf_tokenizer(meta: dict[str, Any], where: str) -> Tokenizer:
    """The tokenizer a GGUF file describes (``meta`` its metadata)."""
    model = meta.get("tokenizer.ggml.model")
    tokens = _list(meta.get("tokenizer.ggml.tokens"), "tokenizer.ggml.tokens", where)
    n = len(tokens)
    if n == 0 or len(set(tokens)) != n:
        raise UserError(f"{where}: the vocabulary (tokenizer.ggml.tokens) is empty or has repeated tokens")
    types = meta.get("tokenizer.ggml.token_type")
    types = [int(t) for t in types] if types is not None and len(types) == n else [1] * n
    if model == "gpt2":
        merges = _list(meta.get("tokenizer.ggml.merges"), "tokenizer.ggml.merges", where)
        pairs = [tuple(m.split(" ", 1)) for m in merges]
        if any(len(p) != 2 for p in pairs):
            raise UserError(f"{where}: a merge in tokenizer.ggml.merges is not two tokens")
        vocab = {tok: i for i, tok in enumerate(tokens)}
        try:
            hf = HFTokenizer(models.BPE(vocab=vocab, merges=pairs, ignore_merges=meta.get("tokenizer.ggml.pre")
                                        in ("llama3", "llama-bpe", "llama-v3")))
        except Exception as e:  # noqa: BLE001  tokenizers raises plain Exception for a merge of unknown tokens
            raise UserError(f"{where}: the merges do not fit the vocabulary ({str(e)[:80]})") from None
        splits = PRE_SPLITS.get(str(meta.get("tokenizer.ggml.pre", "default")), [_GPT2])
        hf.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in splits]
            + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        hf.decoder = decoders.ByteLevel()
        kind = "byte-bpe"
    elif model == "llama":
        scores = meta.get("tokenizer.ggml.scores")
        if scores is None or len(scores) != n:
            raise UserError(f"{where}: a SentencePiece vocabulary needs tokenizer.ggml.scores")
        vocab = {tok: i for i, tok in enumerate(tokens)}
        hf = HFTokenizer(models.BPE(vocab=vocab, merges=sentencepiece_merges(tokens, [float(s) for s in scores]),
                                    byte_fallback=True, fuse_unk=True,
                                    unk_token=tokens[meta.get("tokenizer.ggml.unknown_token_id", 0) or 0]))
        hf.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
        hf.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                        decoders.Strip(" ", 1, 0)])
        kind = "sp-bpe"
    else:
        raise UserError(f"{where}: tokenizer.ggml.model is {str(model)[:30]!r}; this build reads byte-level BPE "
                        "(gpt2) and SentencePiece (llama) vocabularies")
    control = [AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, types, strict=True)
               if k == CONTROL]
    user = [AddedToken(t, special=False, normalized=False) for t, k in zip(tokens, types, strict=True)
            if k == USER_DEFINED]
    hf.add_special_tokens(control)
    hf.add_tokens(user)
    bos = _token_id(meta, "tokenizer.ggml.bos_token_id", n, where)
    eos = _token_id(meta, "tokenizer.ggml.eos_token_id", n, where)
    eot = _token_id(meta, "tokenizer.ggml.eot_token_id", n, where)
    unk = _token_id(meta, "tokenizer.ggml.unknown_token_id", n, where)
    pad = _token_id(meta, "tokenizer.ggml.padding_token_id", n, where)
    add_bos = meta.get("tokenizer.ggml.add_bos_token", model == "llama")
    add_eos = meta.get("tokenizer.ggml.add_eos_token", False)
    prefix = [bos] if add_bos is True and bos is not None else []
    suffix = [eos] if add_eos is True and eos is not None else []
    eos_ids = [i for i in dict.fromkeys([eot, eos]) if i is not None]
    if kind == "byte-bpe":
        unk = None  # every byte has a token: nothing is unknown
    return Tokenizer(hf, kind, Specials(bos, unk, prefix, suffix, eos_ids, [], pad))


def sentencepiece_merges(tokens: list[str], scores: list[float]) -> list[tuple[str, str]]:
    """BPE merges implied by a SentencePiece vocabulary: every split of a token into two tokens, the
    merges of higher-scored results first (as SentencePiece ranks its pieces)."""
    index = {tok: i for i, tok in enumerate(tokens)}
    found = []
    for tok, score in zip(tokens, scores, strict=True):
        for k in range(1, len(tok)):
            left, right = tok[:k], tok[k:]
            if left in index and right in index:
                found.append((-score, index[left], index[right], left, right))
    found.sort()
    return [(left, right) for *_, left, right in found]


# --- Hugging Face folders --------------------------------------------------------------------------


def read_json(path: Path, what: str, limit: int = 16 << 20) -> dict[str, Any]:
    """A small JSON object file (config.json, tokenizer_config.json, ...), checked."""
    try:
        if path.stat().st_size > limit:
            raise UserError(f"{path} is too large to be a {what}")
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise UserError(f"{path} is corrupt (not valid JSON)") from None
    except OSError as e:
        raise UserError(f"{path} cannot be read ({reason(e)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} is not a JSON object")
    return raw


def _kind_of(raw: dict) -> str:
    model = raw.get("model") if isinstance(raw.get("model"), dict) else {}
    kind = model.get("type")
    text = json.dumps({k: raw.get(k) for k in ("pre_tokenizer", "decoder")})
    if kind == "BPE":
        return "byte-bpe" if "ByteLevel" in text else "sp-bpe"
    return {"WordPiece": "wordpiece", "Unigram": "unigram", "WordLevel": "word-level"}.get(str(kind), "")


def _named_id(hf: HFTokenizer, value: Any) -> int | None:
    """A token named in tokenizer_config.json ("[CLS]" or {"content": "[CLS]", ...}) -> its id."""
    if isinstance(value, dict):
        value = value.get("content")
    return hf.token_to_id(value) if isinstance(value, str) else None


def _ids(value: Any) -> list[int]:
    items = value if isinstance(value, list) else [value]
    return [int(i) for i in items if isinstance(i, int) and not isinstance(i, bool) and i >= 0]


def folder_tokenizer(folder: Path, config: dict[str, Any]) -> tuple[Tokenizer, dict[str, Any]]:
    """The tokenizer of a Hugging Face folder (its tokenizer.json, with tokenizer_config.json and
    generation_config.json for the special tokens) and the tokenizer settings (e.g. its chat template)."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise UserError(f"{folder} has no tokenizer.json; this build needs the fast tokenizer file next to "
                        "config.json (save the tokenizer with transformers to make one)")
    def check(raw: dict) -> None:
        if not _kind_of(raw):
            raise ValueError("not a BPE, WordPiece, Unigram or WordLevel tokenizer")

    hf, raw = read_hf_tokenizer(path, check)
    kind = _kind_of(raw)
    hf.no_truncation()
    hf.no_padding()
    settings = read_json(folder / "tokenizer_config.json", "tokenizer config") \
        if (folder / "tokenizer_config.json").is_file() else {}
    generation = read_json(folder / "generation_config.json", "generation config") \
        if (folder / "generation_config.json").is_file() else {}
    if (folder / "chat_template.jinja").is_file():
        try:
            settings["chat_template"] = (folder / "chat_template.jinja").read_text(encoding="utf-8")[:1_000_000]
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{folder}/chat_template.jinja cannot be read ({e})") from None
    # what the tokenizer wraps a text in: compare a text encoded with and without its special tokens
    plain = hf.encode("a", add_special_tokens=False).ids
    full = hf.encode("a", add_special_tokens=True).ids
    at = next((i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain), 0)
    prefix, suffix = full[:at], full[at + len(plain):]
    bos = _named_id(hf, settings.get("bos_token")) or _named_id(hf, settings.get("cls_token"))
    if bos is None and _ids(config.get("bos_token_id")):
        bos = _ids(config.get("bos_token_id"))[0]
    unk = _named_id(hf, settings.get("unk_token"))
    pad = _named_id(hf, settings.get("pad_token"))
    eos = _ids(generation.get("eos_token_id")) + _ids(config.get("eos_token_id"))
    named = _named_id(hf, settings.get("eos_token"))
    eos_ids = list(dict.fromkeys(eos + ([named] if named is not None else [])))
    if kind == "wordpiece":
        eos_ids = []  # an encoder: [SEP] ends a segment, not a generation
    return Tokenizer(hf, kind, Specials(bos, unk, prefix, suffix, eos_ids, [], pad)), settings
