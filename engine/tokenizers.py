"""Tokenizers behind one interface: character-level, word-level and byte-level BPE.

All three are Hugging Face ``tokenizers`` pipelines, so each is saved as a standard ``tokenizer.json``
and every token knows its character span in the source text (``Encoding.offsets``), which the views
use to colour text by token. Decoding with the ``Fuse`` / ``ByteLevel`` decoders round-trips exactly
for any text whose tokens are all in the vocabulary (always, for BPE).

Special tokens (ids 0 and 1 in every vocabulary):

- ``<|bos|>``: the start. Every training window and every prompt begins with it, so the first real
  token's probability is p(x_1 | start) (seed 000: "assign probability to sentence").
- ``<|unk|>``: a character or word not in the vocabulary (BPE never needs it: it covers all bytes).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer

from engine.errors import UserError

BOS = "<|bos|>"
UNK = "<|unk|>"
SPECIALS = [BOS, UNK]
KINDS = ("char", "word", "bpe")
MAX_VOCAB = 2**24
MAX_TOKENIZER_BYTES = 1 << 30
CHAR_PATTERN = r"[\s\S]"  # any one character, newlines included
# word-level: a word with its leading space, a run of punctuation with its leading space, or white space
WORD_PATTERN = r" ?[A-Za-z0-9\u00C0-\u024F']+| ?[^A-Za-z0-9\u00C0-\u024F'\s]+|\s+"


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]  # character span of each token in the source text


class Tokenizer:
    """One interface over the three kinds; wraps a Hugging Face ``tokenizers.Tokenizer``."""

    def __init__(self, hf: HFTokenizer, kind: str) -> None:
        if kind not in KINDS:
            raise UserError(f"unknown tokenizer kind {kind!r}; use one of {', '.join(KINDS)}")
        self.hf = hf
        self.kind = kind
        self.bos_id = hf.token_to_id(BOS)
        self.unk_id = hf.token_to_id(UNK)
        if self.bos_id is None or self.unk_id is None:
            raise UserError("tokenizer has no <|bos|> or <|unk|> token; it was not made by Transformer Explorer")
        vocab = hf.get_vocab(with_added_tokens=True)
        if len(vocab) > MAX_VOCAB or max(vocab.values()) != len(vocab) - 1 or min(vocab.values()) < 0:
            raise UserError(f"the tokenizer's token ids are not 0..{len(vocab) - 1}; it was not made by "
                            "Transformer Explorer")
        self._id_to_token = [""] * len(vocab)
        for tok, i in vocab.items():
            self._id_to_token[i] = tok

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def train(cls, kind: str, texts: Iterable[str], vocab_size: int = 0, min_frequency: int = 1) -> Tokenizer:
        """Learn a vocabulary from ``texts``. ``vocab_size`` 0 means: all characters / words seen."""
        if kind == "char":  # counting characters is quicker in Python than via the regex trainer
            counts: Counter[str] = Counter()
            for text in texts:
                counts.update(text)
            chars = [c for c, n in counts.most_common(vocab_size - len(SPECIALS) if vocab_size else None)
                     if n >= min_frequency]
            vocab = {tok: i for i, tok in enumerate(SPECIALS + sorted(chars))}
            hf = HFTokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
            hf.add_special_tokens(SPECIALS)
            hf.pre_tokenizer = pre_tokenizers.Split(Regex(CHAR_PATTERN), behavior="isolated")
            hf.decoder = decoders.Fuse()
            return cls(hf, kind)
        if kind == "word":
            hf = HFTokenizer(models.WordLevel(unk_token=UNK))
            hf.pre_tokenizer = pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")
            hf.decoder = decoders.Fuse()
            trainer = trainers.WordLevelTrainer(vocab_size=vocab_size or 1_000_000,
                                                min_frequency=max(min_frequency, 1),
                                                special_tokens=SPECIALS, show_progress=False)
        elif kind == "bpe":
            hf = HFTokenizer(models.BPE(unk_token=None))
            hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
            hf.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(vocab_size=vocab_size or 1024, min_frequency=max(min_frequency, 2),
                                          special_tokens=SPECIALS, show_progress=False,
                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        else:
            raise UserError(f"unknown tokenizer {kind!r}; use one of {', '.join(KINDS)}")
        hf.train_from_iterator(texts, trainer=trainer)
        return cls(hf, kind)

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"no tokenizer file at {p}")
        try:
            if p.stat().st_size > MAX_TOKENIZER_BYTES:
                raise UserError(f"{p} is too large to be a tokenizer ({p.stat().st_size / 2**20:,.0f} MiB)")
            raw = json.loads(p.read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or not isinstance(raw.get("model"), dict):
                raise ValueError("not a tokenizer object")
            hf = HFTokenizer.from_str(json.dumps(raw))
        except UserError:
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001  tokenizers raises plain Exception, and a Rust panic as BaseException
            raise UserError(f"{p} is not a valid tokenizer.json ({(str(e).splitlines() or [''])[0][:80]})") from None
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
        """The token as the user reads it (BPE's byte-level symbols decoded, e.g. 'Ġthe' -> ' the')."""
        if i in (self.bos_id, self.unk_id):
            return self._id_to_token[i]
        if self.kind == "bpe":
            return self.hf.decode([i], skip_special_tokens=False)
        return self._id_to_token[i]

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
        return self.hf.decode([int(i) for i in ids if int(i) != self.bos_id], skip_special_tokens=False)

    def unknown_count(self, text: str) -> int:
        return sum(1 for i in self.encode(text).ids if i == self.unk_id)


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
