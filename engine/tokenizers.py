"""Tokenizers behind one interface: character-level, word-level and byte-level BPE.

All three are Hugging Face ``tokenizers`` pipelines, so each is saved as a standard ``tokenizer.json``
and every token knows its character span in the source text (``Encoding.offsets``), which the views
use to colour text by token. Decoding with the ``Fuse`` / ``ByteLevel`` decoders round-trips exactly
for any text whose tokens are all in the vocabulary (always, for BPE).

Special tokens (ids 0 and 1 in every vocabulary):

- ``<|bos|>``: the start. Every training window and every prompt begins with it, so the first real
  token's probability is p(x_1 | start) (seed 000: "assign probability to sentence").
- ``<|unk|>``: a character or word not in the vocabulary (BPE never needs it: it covers all bytes).

A tokenizer trained for the masked objective (engine.mlm, seed 001, Figure 11.5) has a third special
token, ``[MASK]`` (id 2, after the two above; ``extra_specials`` of :meth:`Tokenizer.train`), so every
other tokenizer keeps exactly its ids.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer

from engine.errors import UserError

BOS = "<|bos|>"
UNK = "<|unk|>"
SPECIALS = [BOS, UNK]
MASK = "[MASK]"  # the masked objective's blank (engine.mlm)
KINDS = ("char", "word", "bpe")  # ours (trainable)
FOREIGN_KINDS = ("byte-bpe", "sp-bpe", "wordpiece", "unigram", "word-level")  # real models' (see engine.models)
MAX_VOCAB = 2**24
MAX_TOKENIZER_BYTES = 1 << 30
CHAR_PATTERN = r"[\s\S]"  # any one character, newlines included
# word-level: a word with its leading space, a run of punctuation with its leading space, or white space
WORD_PATTERN = r" ?[A-Za-z0-9\u00C0-\u024F']+| ?[^A-Za-z0-9\u00C0-\u024F'\s]+|\s+"


@dataclass
class Specials:
    """The special tokens of a tokenizer and what the model expects of them (see :class:`Tokenizer`)."""

    bos_id: int | None
    unk_id: int | None
    prefix_ids: list[int]
    suffix_ids: list[int]
    eos_ids: list[int]
    never_generate: list[int]
    pad_id: int | None = None


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]  # character span of each token in the source text


class Tokenizer:
    """One interface over our three kinds and the tokenizers of real models; wraps a Hugging Face
    ``tokenizers.Tokenizer``.

    What a model expects around a text: ``prefix_ids`` before it (ours: <|bos|>; BERT: [CLS]; SmolLM2:
    nothing) and ``suffix_ids`` after it (BERT: [SEP]); :meth:`wrap` adds both. ``eos_ids`` end a
    generation (SmolLM2: <|im_end|>, its end of turn); ``never_generate`` are never sampled (ours:
    <|bos|> and <|unk|>; ids the model has but the tokenizer lacks).
    """

    def __init__(self, hf: HFTokenizer, kind: str, special: Specials | None = None) -> None:
        self.hf = hf
        self.kind = kind
        vocab = hf.get_vocab(with_added_tokens=True)
        if special is None:  # ours: checked strictly
            if kind not in KINDS:
                raise UserError(f"unknown tokenizer kind {kind!r}; use one of {', '.join(KINDS)}")
            bos, unk = hf.token_to_id(BOS), hf.token_to_id(UNK)
            if bos is None or unk is None:
                raise UserError("tokenizer has no <|bos|> or <|unk|> token; it was not made by Transformer Explorer")
            if len(vocab) > MAX_VOCAB or max(vocab.values()) != len(vocab) - 1 or min(vocab.values()) < 0:
                raise UserError(f"the tokenizer's token ids are not 0..{len(vocab) - 1}; it was not made by "
                                "Transformer Explorer")
            mask = hf.token_to_id(MASK)
            special = Specials(bos, unk, [bos], [], [], [bos, unk] + ([mask] if mask is not None else []))
        elif kind not in KINDS + FOREIGN_KINDS:
            raise UserError(f"unknown tokenizer kind {kind!r}")
        self.ours = kind in KINDS and special.prefix_ids == [special.bos_id] and not special.eos_ids
        self.bos_id, self.unk_id = special.bos_id, special.unk_id
        self.prefix_ids, self.suffix_ids = list(special.prefix_ids), list(special.suffix_ids)
        self.eos_ids, self.never_generate = list(special.eos_ids), list(special.never_generate)
        self.pad_id = special.pad_id
        size = max(vocab.values(), default=-1) + 1
        if size > MAX_VOCAB or min(vocab.values(), default=0) < 0:
            raise UserError(f"the tokenizer has token ids outside 0..{MAX_VOCAB - 1}")
        self._id_to_token = [""] * size
        for tok, i in vocab.items():
            self._id_to_token[i] = tok
        for i, tok in enumerate(self._id_to_token):
            if not tok:
                self._id_to_token[i] = f"<|unused {i}|>"
        self.special_ids = sorted(i for i, t in hf.get_added_tokens_decoder().items() if t.special)
        self._texts: list[str] | None = None

    @property
    def mask_id(self) -> int | None:
        """The id of ``[MASK]`` (ours when trained for the masked objective; BERT's), None when absent."""
        return self.hf.token_to_id(MASK)

    def pad_to(self, V: int) -> None:
        """Extend the vocabulary to the model's V ids (a model may have more rows than its tokenizer has
        tokens: the extra ids are shown as "<|unused N|>" and never generated)."""
        n = len(self._id_to_token)
        if V > n:
            self._id_to_token += [f"<|unused {i}|>" for i in range(n, V)]
            self.never_generate += list(range(n, V))
            self._texts = None

    def wrap(self, ids: list[int]) -> list[int]:
        """The model's input for a text's ids: prefix + ids + suffix."""
        return self.prefix_ids + list(ids) + self.suffix_ids

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def train(cls, kind: str, texts: Iterable[str], vocab_size: int = 0, min_frequency: int = 1,
              extra_specials: Iterable[str] = ()) -> Tokenizer:
        """Learn a vocabulary from ``texts``. ``vocab_size`` 0 means: all characters / words seen.
        ``extra_specials`` (e.g. ``[MASK]``) follow <|bos|> and <|unk|> as ids 2, 3, ..."""
        specials = SPECIALS + [t for t in extra_specials if t not in SPECIALS]
        if kind == "char":  # counting characters is quicker in Python than via the regex trainer
            counts: Counter[str] = Counter()
            for text in texts:
                counts.update(text)
            chars = [c for c, n in counts.most_common(vocab_size - len(specials) if vocab_size else None)
                     if n >= min_frequency]
            vocab = {tok: i for i, tok in enumerate(specials + sorted(chars))}
            hf = HFTokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
            hf.add_special_tokens(specials)
            hf.pre_tokenizer = pre_tokenizers.Split(Regex(CHAR_PATTERN), behavior="isolated")
            hf.decoder = decoders.Fuse()
            return cls(hf, kind)
        if kind == "word":
            hf = HFTokenizer(models.WordLevel(unk_token=UNK))
            hf.pre_tokenizer = pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")
            hf.decoder = decoders.Fuse()
            trainer = trainers.WordLevelTrainer(vocab_size=vocab_size or 1_000_000,
                                                min_frequency=max(min_frequency, 1),
                                                special_tokens=specials, show_progress=False)
        elif kind == "bpe":
            hf = HFTokenizer(models.BPE(unk_token=None))
            hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
            hf.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(vocab_size=vocab_size or 1024, min_frequency=max(min_frequency, 2),
                                          special_tokens=specials, show_progress=False,
                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        else:
            raise UserError(f"unknown tokenizer {kind!r}; use one of {', '.join(KINDS)}")
        hf.train_from_iterator(texts, trainer=trainer)
        return cls(hf, kind)

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        def check(raw: dict) -> None:
            if not isinstance(raw.get("model"), dict):
                raise ValueError("not a tokenizer object")

        hf, raw = read_hf_tokenizer(Path(path), check)
        return cls(hf, _kind_of(raw))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.hf.to_str(), encoding="utf-8")

    # --- use --------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    def id_to_token(self, i: int) -> str:
        return self._id_to_token[i]

    def token_text(self, i: int) -> str:
        """The token as the user reads it: BPE's byte-level symbols decoded ('Ġthe' -> ' the'), SentencePiece's
        '▁' as a space, a lone byte of an incomplete UTF-8 character as "<0xE2>"; special tokens as they are."""
        if self.ours:
            if i in (self.bos_id, self.unk_id) or self._id_to_token[i] == MASK:
                return self._id_to_token[i]
            if self.kind == "bpe":
                return self.hf.decode([i], skip_special_tokens=False)
            return self._id_to_token[i]
        if self._texts is None:
            self._texts = readable_tokens(self._id_to_token, self.kind, set(self.special_ids))
        return self._texts[i]

    def encode(self, text: str) -> Encoded:
        enc = self.hf.encode(text, add_special_tokens=False)
        return Encoded(list(enc.ids), list(enc.tokens), [tuple(o) for o in enc.offsets])

    def encode_ids(self, text: str) -> np.ndarray:
        """Fast path for whole corpora: token ids as an int64 array (encoded in parallel by chunks)."""
        if not text:
            return np.zeros(0, dtype=np.int64)
        if self.kind == "char":  # a lookup table over code points: no per-character Python work
            points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
            table = np.full(int(points.max()) + 1, self.unk_id, dtype=np.int64)
            for tok, i in self.hf.get_vocab().items():
                if len(tok) == 1 and ord(tok) < len(table):
                    table[ord(tok)] = i
            return table[points]
        else:  # cut at line ends so no word or merge straddles a chunk boundary
            chunks = text.splitlines(keepends=True)
            encs = self.hf.encode_batch(chunks, add_special_tokens=False)
            return np.fromiter((i for e in encs for i in e.ids), dtype=np.int64)

    def encode_pieces(self, pieces: Iterable[str], dtype: type = np.int64) -> Iterator[np.ndarray]:
        """Token ids of a text given in pieces (see :class:`engine.corpus.TextFile`), piece by piece, as
        :meth:`encode_ids` of the whole text gives them, so a corpus of any size is encoded in bounded
        memory."""
        if self.kind == "char":
            vocab = self.hf.get_vocab()
            size = 1 + max((ord(tok) for tok in vocab if len(tok) == 1), default=0)
            table = np.full(size, self.unk_id, dtype=dtype)
            for tok, i in vocab.items():
                if len(tok) == 1:
                    table[ord(tok)] = i
            for piece in pieces:
                points = np.frombuffer(piece.encode("utf-32-le"), dtype=np.uint32)
                known = points < size
                yield np.where(known, table[np.where(known, points, 0)], self.unk_id).astype(dtype, copy=False)
            return
        encode = getattr(self.hf, "encode_batch_fast", self.hf.encode_batch)  # the same ids, without offsets
        for piece in pieces:  # by lines, as encode_ids does
            encs = encode(piece.splitlines(keepends=True), add_special_tokens=False)
            yield np.fromiter(itertools.chain.from_iterable(e.ids for e in encs), dtype=dtype,
                              count=sum(len(e) for e in encs))

    def decode(self, ids: Iterable[int]) -> str:
        if self.ours:
            return self.hf.decode([int(i) for i in ids if int(i) != self.bos_id], skip_special_tokens=False)
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=False)

    def unknown_count(self, text: str) -> int:
        return sum(1 for i in self.encode(text).ids if i == self.unk_id)


def read_hf_tokenizer(p: Path, check: Callable[[dict], None] | None = None, what: str = "tokenizer.json",
                      max_bytes: int = MAX_TOKENIZER_BYTES) -> tuple[HFTokenizer, dict]:
    """A Hugging Face tokenizer file and its JSON, read safely: a missing, huge, corrupt or (by ``check``,
    which raises ValueError) unsuitable file is one UserError "... is not a valid {what} (why)"."""
    if not p.is_file():
        raise UserError(f"no tokenizer file at {p}")
    try:
        if p.stat().st_size > max_bytes:
            raise UserError(f"{p} is too large to be a tokenizer ({p.stat().st_size / 2**20:,.0f} MiB)")
        raw = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        if check is not None:
            check(raw)
        hf = HFTokenizer.from_str(json.dumps(raw))
    except UserError:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001  tokenizers raises plain Exception, and a Rust panic as BaseException
        raise UserError(f"{p} is not a valid {what} ({(str(e).splitlines() or [''])[0][:80]})") from None
    return hf, raw


PRE_TOKENIZERS = {
    "char": {"type": "Split", "pattern": {"Regex": CHAR_PATTERN}, "behavior": "Isolated", "invert": False},
    "word": {"type": "Split", "pattern": {"Regex": WORD_PATTERN}, "behavior": "Isolated", "invert": False},
}


def _kind_of(raw: dict) -> str:
    """Which of our kinds a tokenizer.json is: BPE by its model, char vs word by its split pattern. Anything
    else in its pipeline (another pattern, a normalizer, BPE dropout, ...) is refused: it was not made by
    Transformer Explorer, and a foreign regular expression could take forever on some texts."""
    model = raw.get("model") if isinstance(raw.get("model"), dict) else {}
    pre = raw.get("pre_tokenizer")
    if model.get("type") == "BPE":
        kind = "bpe"
        ours = isinstance(pre, dict) and pre.get("type") == "ByteLevel" and not model.get("dropout")
    else:
        kind = next((k for k, p in PRE_TOKENIZERS.items() if pre == p), "")
        ours = bool(kind) and model.get("type") == "WordLevel"
    extras = [key for key in ("normalizer", "post_processor", "truncation", "padding") if raw.get(key)]
    if not ours or extras:
        raise UserError("the tokenizer.json was not made by Transformer Explorer (its pipeline is not a char, "
                        "word or BPE one)")
    return kind


def byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet: the printable character that stands for each of the 256 bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, n = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + n)] = b
            n += 1
    return chars


def readable_bytes(data: bytes) -> str:
    """UTF-8 text, with each byte that is not part of a complete character shown as <0xNN>."""
    out, i = [], 0
    while i < len(data):
        for n in (1, 2, 3, 4):
            try:
                out.append(data[i:i + n].decode("utf-8"))
                i += n
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append(f"<0x{data[i]:02X}>")
            i += 1
    return "".join(out)


def readable_tokens(tokens: list[str], kind: str, special: set[int]) -> list[str]:
    """Each vocabulary entry as the user reads it (see :meth:`Tokenizer.token_text`)."""
    if kind == "byte-bpe":
        table = byte_decoder()
        out = []
        for i, tok in enumerate(tokens):
            if i in special or not all(c in table for c in tok):
                out.append(tok)
            else:
                out.append(readable_bytes(bytes(table[c] for c in tok)))
        return out
    if kind in ("sp-bpe", "unigram"):
        out = []
        for i, tok in enumerate(tokens):
            if i not in special and len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">"):
                try:
                    out.append(readable_bytes(bytes([int(tok[3:5], 16)])))  # a byte-fallback token
                    continue
                except ValueError:
                    pass
            out.append(tok if i in special else tok.replace("\u2581", " "))
        return out
    return list(tokens)


# --- a tokenizer saved in a folder with its special tokens --------------------------------------------


def tokenizer_specials(tok: Tokenizer) -> dict:
    """What a saved folder's config.json keeps of a tokenizer besides tokenizer.json (read by folder_tokenizer)."""
    return {"bos_id": tok.bos_id, "unk_id": tok.unk_id, "prefix_ids": tok.prefix_ids, "suffix_ids": tok.suffix_ids,
            "eos_ids": tok.eos_ids, "never_generate": tok.never_generate, "pad_id": tok.pad_id}


def folder_tokenizer(p: Path, config: dict) -> Tokenizer:
    """The tokenizer of a folder this engine wrote: tokenizer.json, and the kind and special tokens in its config
    (ours are read strictly; a real model's, such as SmolLM2's, with the special tokens saved beside it)."""
    kind, sp = config.get("tokenizer"), config.get("specials")
    path = p / "tokenizer.json"
    if not path.is_file():
        raise UserError(f"{p} has no tokenizer.json")
    if not isinstance(sp, dict) or not isinstance(kind, str):
        raise UserError(f"{p}/config.json has no tokenizer settings")
    if kind in KINDS and sp.get("prefix_ids") == [sp.get("bos_id")] and not sp.get("eos_ids"):
        tok = Tokenizer.load(path)  # ours: checked strictly
    else:
        hf, _ = read_hf_tokenizer(path)
        special = Specials(**{k: sp.get(k) for k in ("bos_id", "unk_id", "prefix_ids", "suffix_ids", "eos_ids",
                                                      "never_generate", "pad_id")})
        tok = Tokenizer(hf, kind, special)
    return tok
