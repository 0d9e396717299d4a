"""How good a translator is: exact match by source length, and corpus BLEU.

- Exact match: the greedy translation equals the reference word for word. Reported per source-length
  bucket (engine.seq2seq.data.BUCKETS: 3-8, 9-15, 16-22, 23-29, 30+ words) and per exact length, which is
  what the story plot draws: seed 002 11.2.1, an encoder-decoder without attention "will perform
  increasingly poorly as the input sentence gets longer".
- BLEU (Papineni et al. 2002): the geometric mean of 1- to 4-gram precisions with a brevity penalty, over
  the whole test set, computed by sacrebleu (its default 13a tokenisation, as papers report it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sacrebleu

from engine.errors import UserError
from engine.seq2seq.data import BUCKETS, bucket_name, bucket_of
from engine.seq2seq.decode import Translator, translate_batch
from engine.seq2seq.grammar import Pair
from engine.seq2seq.vocab import words_of
from engine.tasks import CancelToken

EXAMPLES = 5


@dataclass
class Evaluation:
    """Exact match by bucket and by length (``by_length[n] = [correct, total]``), BLEU, some mistakes."""

    exact_match_by_length: dict[str, float]  # bucket -> accuracy (NaN-free: empty buckets are left out)
    counts: dict[str, int]  # bucket -> sentences
    exact_match: float
    bleu: float
    by_length: dict[int, list[int]] = field(default_factory=dict)
    mistakes: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"exact_match_by_length": self.exact_match_by_length, "counts": self.counts,
                "exact_match": self.exact_match, "bleu": self.bleu,
                "by_length": {str(n): v for n, v in sorted(self.by_length.items())}, "mistakes": self.mistakes}


def exact_match(tr: Translator, pairs: list[Pair], batch: int = 64) -> float:
    """The fraction of pairs translated exactly (greedy)."""
    if not pairs:
        return 0.0
    hyps = translate_batch(tr, [list(p.source) for p in pairs], batch)
    return sum(h == _reference(tr, p) for h, p in zip(hyps, pairs, strict=True)) / len(pairs)


def _reference(tr: Translator, pair: Pair) -> list[str]:
    """The reference words as the target vocabulary normalises them (lowercase for the grammar)."""
    return words_of(tr.tgt_vocab, pair.tgt_text)


def evaluate(tr: Translator, pairs: list[Pair], batch: int = 64, token: CancelToken | None = None) -> Evaluation:
    """Greedy translations of ``pairs`` scored against their references (see the module docstring)."""
    if not pairs:
        raise UserError("there are no sentence pairs to evaluate on")
    hyps: list[list[str]] = []
    step = 8 * batch
    for start in range(0, len(pairs), step):  # in chunks, so a cancel is heard
        if token is not None:
            token.check()
        hyps += translate_batch(tr, [list(p.source) for p in pairs[start:start + step]], batch)
    refs = [_reference(tr, p) for p in pairs]
    right = [h == r for h, r in zip(hyps, refs, strict=True)]
    by_length: dict[int, list[int]] = {}
    buckets: dict[str, list[int]] = {bucket_name(lo, hi): [0, 0] for lo, hi in BUCKETS}
    for pair, ok in zip(pairs, right, strict=True):
        n = len(pair.source)
        by_length.setdefault(n, [0, 0])
        by_length[n][0] += ok
        by_length[n][1] += 1
        b = bucket_of(n)
        if b is not None:
            buckets[b][0] += ok
            buckets[b][1] += 1
    bleu = sacrebleu.corpus_bleu([" ".join(h) for h in hyps], [[" ".join(r) for r in refs]]).score
    mistakes = [{"source": p.src_text, "reference": " ".join(r), "translation": " ".join(h)}
                for p, h, r, ok in zip(pairs, hyps, refs, right, strict=True) if not ok][:EXAMPLES]
    return Evaluation({b: c / n for b, (c, n) in buckets.items() if n}, {b: n for b, (_, n) in buckets.items() if n},
                      sum(right) / len(right), float(bleu), by_length, mistakes)
