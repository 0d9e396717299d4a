"""Word-level vocabularies for translation: Hugging Face ``tokenizers`` WordLevel models with four
special tokens (ids 0..3): ``<pad>`` (fills a batch), ``<bos>`` (the decoder's first input, seed 002
11.2.1: "the decoder RNN ... starts with the begin of sequence symbol"), ``<eos>`` (ends a translation)
and ``<unk>`` (a word not in the vocabulary: reported, never a crash).

A vocabulary is an :class:`engine.tokenizers.Tokenizer` ("word-level", with these specials), so the
engine's beam search (engine.decoding.search) can use it as it is: ``<eos>`` ends a hypothesis, and
``<pad>``, ``<bos>``, ``<unk>`` are never generated. Words are split on white space; a vocabulary made
for the grammar task also lowercases (its words are all lowercase).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, normalizers, pre_tokenizers

from engine.errors import UserError
from engine.tokenizers import Specials, Tokenizer, read_hf_tokenizer

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
MAX_VOCAB_BYTES = 64 * 2**20


def _specials() -> Specials:
    return Specials(bos_id=BOS_ID, unk_id=UNK_ID, prefix_ids=[], suffix_ids=[], eos_ids=[EOS_ID],
                    never_generate=[PAD_ID, BOS_ID, UNK_ID], pad_id=PAD_ID)


def build_vocab(words: Iterable[str], lowercase: bool = False, min_count: int = 1,
                max_size: int = 0) -> Tokenizer:
    """A vocabulary of the specials and ``words`` (a stream of words; kept if seen ``min_count`` times,
    the ``max_size`` most frequent when given, ties by first appearance)."""
    counts = Counter(w.lower() if lowercase else w for w in words)
    kept = [w for w, n in counts.most_common() if n >= min_count and w not in SPECIALS]
    if max_size:
        kept = kept[: max(0, max_size - len(SPECIALS))]
    vocab = {tok: i for i, tok in enumerate([*SPECIALS, *kept])}
    hf = HFTokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    hf.add_special_tokens(list(SPECIALS))
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if lowercase:
        hf.normalizer = normalizers.Lowercase()
    return Tokenizer(hf, "word-level", _specials())


def load_vocab(path: str | Path) -> Tokenizer:
    """A vocabulary saved with ``tokenizer.save``; a missing or corrupt file is one UserError."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p} is missing")

    def check(raw: dict) -> None:
        if not isinstance(raw.get("model"), dict) or raw["model"].get("type") != "WordLevel":
            raise ValueError("not a word-level tokenizer")

    hf, _ = read_hf_tokenizer(p, check, "vocabulary", MAX_VOCAB_BYTES)
    if [hf.token_to_id(t) for t in SPECIALS] != [PAD_ID, BOS_ID, EOS_ID, UNK_ID]:
        raise UserError(f"{p} does not have {', '.join(SPECIALS)} as ids 0 to 3")
    return Tokenizer(hf, "word-level", _specials())


def words_of(vocab: Tokenizer, text: str) -> list[str]:
    """The words of ``text`` as the vocabulary splits (and normalises) them, unknown ones as they are."""
    hf = vocab.hf
    normal = hf.normalizer.normalize_str(text) if hf.normalizer is not None else text
    return [w for w, _ in hf.pre_tokenizer.pre_tokenize_str(normal)]


def encode_words(vocab: Tokenizer, words: Iterable[str]) -> list[int]:
    """Token ids of words already split (unknown ones: ``<unk>``)."""
    out = []
    for w in words:
        i = vocab.hf.token_to_id(vocab.hf.normalizer.normalize_str(w) if vocab.hf.normalizer else w)
        out.append(UNK_ID if i is None else i)
    return out


def unknown_words(vocab: Tokenizer, words: Iterable[str]) -> list[str]:
    """The words the vocabulary does not have, each once, in order of appearance."""
    words = list(words)
    return list(dict.fromkeys(w for w, i in zip(words, encode_words(vocab, words), strict=True) if i == UNK_ID))


def decode_ids(vocab: Tokenizer, ids: Iterable[int]) -> list[str]:
    """Words of token ids, stopping at ``<eos>`` and leaving out the other specials."""
    out = []
    for i in ids:
        if i == EOS_ID:
            break
        if i not in (PAD_ID, BOS_ID):
            out.append(vocab.id_to_token(int(i)))
    return out
