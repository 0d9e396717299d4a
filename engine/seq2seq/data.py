"""The data of a translation run: the grammar task (engine.seq2seq.grammar) or a user's parallel text.

A :class:`ParallelData` has a training stream (endless; the grammar draws new sentences, a file's
training lines are shuffled anew each epoch), a validation set (exact match during training) and a
held-out test set (evaluation, by source-length bucket). No test or validation source sentence is ever
a training one: the grammar's stream skips them, a file's lines are split by distinct source sentence.

A parallel text file: UTF-8, one ``source<TAB>target`` a line, words separated by spaces, an optional
header ``source<TAB>target``, blank lines skipped. Refused with one line: missing, empty, binary,
undecodable, too large (> 64 MiB), a line without exactly two columns or with an empty side, fewer than
:data:`MIN_PAIRS` pairs.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine.corpus import read_text_file
from engine.errors import UserError
from engine.seq2seq.grammar import DEFAULT_LEXICON, Grammar, Pair

MAX_TSV_BYTES = 64 * 2**20
MIN_PAIRS = 10
# source-length buckets of the evaluation: (lowest, highest) words, inclusive; the last is open-ended
BUCKETS: tuple[tuple[int, int], ...] = ((3, 8), (9, 15), (16, 22), (23, 29), (30, 10**9))
GRAMMAR_TEST_PER_BUCKET = 200
GRAMMAR_VALID = 300


def bucket_name(lo: int, hi: int) -> str:
    return f"{lo}+" if hi >= 10**9 else f"{lo}-{hi}"


def bucket_of(length: int, buckets: tuple[tuple[int, int], ...] = BUCKETS) -> str | None:
    """The name of the bucket a source length falls in ("3-8", ..., "30+"), None below the first."""
    for lo, hi in buckets:
        if lo <= length <= hi:
            return bucket_name(lo, hi)
    return None


@dataclass
class ParallelData:
    """Training stream, validation and test pairs, and where they come from (``spec``, for the checkpoint:
    {"kind": "grammar", "seed": s} or {"kind": "tsv", "path": ..., "seed": s})."""

    spec: dict
    valid: list[Pair]
    test: list[Pair]
    _train: list[Pair] = field(default_factory=list)  # a file's training pairs (empty for the grammar)

    def stream(self, seed: int) -> Iterator[Pair]:
        """Training pairs without end."""
        rng = random.Random(seed)
        if self.spec["kind"] == "grammar":
            exclude = {p.src_text for p in self.valid + self.test}
            yield from Grammar(self.lexicon_size).stream(rng, exclude)
            return
        order = list(self._train)
        while True:
            rng.shuffle(order)
            yield from order

    def vocabulary_words(self) -> tuple[list[str], list[str]]:
        """(source words, target words) the vocabularies are built from: the grammar's whole lexicon, or
        the words of a file's training lines (a test-only word is then unknown, as it would be)."""
        if self.spec["kind"] == "grammar":
            lex = Grammar(self.lexicon_size).lex
            return lex.source_words(), lex.target_words()
        return [w for p in self._train for w in p.source], [w for p in self._train for w in p.target]

    @property
    def lexicon_size(self) -> str:
        return str(self.spec.get("lexicon", DEFAULT_LEXICON))

    @property
    def lowercase(self) -> bool:
        return self.spec["kind"] == "grammar"


def grammar_data(seed: int = 0, test_per_bucket: int = GRAMMAR_TEST_PER_BUCKET,
                 valid: int = GRAMMAR_VALID, lexicon_size: str = DEFAULT_LEXICON) -> ParallelData:
    """The grammar task: a test set of ``test_per_bucket`` sentences in every bucket of :data:`BUCKETS`,
    ``valid`` validation sentences drawn as training ones are (all distinct, none in the test set), with
    the ``lexicon_size`` lexicon (engine.seq2seq.grammar.LEXICON_SIZES)."""
    g = Grammar(lexicon_size)
    rng = random.Random(f"seq2seq-test-{seed}")
    want = {bucket_name(lo, hi): test_per_bucket for lo, hi in BUCKETS}
    test: list[Pair] = []
    seen: set[str] = set()
    while any(want.values()):
        pair = g.sentence(rng)
        b = bucket_of(len(pair.source))
        if b is not None and want[b] and pair.src_text not in seen:
            want[b] -= 1
            seen.add(pair.src_text)
            test.append(pair)
    rng = random.Random(f"seq2seq-valid-{seed}")
    val: list[Pair] = []
    while len(val) < valid:
        pair = g.sentence(rng)
        if pair.src_text not in seen:
            seen.add(pair.src_text)
            val.append(pair)
    return ParallelData({"kind": "grammar", "seed": seed, "lexicon": lexicon_size}, val, test)


def read_parallel(path: str | Path) -> list[Pair]:
    """The pairs of a parallel text file (see the module docstring); one UserError for a bad file."""
    p = Path(path)
    text = read_text_file(p, MAX_TSV_BYTES)
    pairs: list[Pair] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != 2:
            raise UserError(f"{p}, line {number}: expected 2 tab-separated columns (source, target), "
                            f"found {len(cols)}")
        src, tgt = cols[0].split(), cols[1].split()
        if not pairs and [w.lower() for w in src + tgt] == ["source", "target"]:
            continue  # the header
        if not src or not tgt:
            raise UserError(f"{p}, line {number}: the {'source' if not src else 'target'} is empty")
        pairs.append(Pair(tuple(src), tuple(tgt)))
    if len(pairs) < MIN_PAIRS:
        raise UserError(f"{p} has {len(pairs)} sentence pairs; give at least {MIN_PAIRS} "
                        "(source<TAB>target lines)")
    return pairs


def file_data(path: str | Path, seed: int = 0, test_fraction: float = 0.1, valid_fraction: float = 0.05,
              max_held: int = 1000) -> ParallelData:
    """A file's pairs split by distinct source sentence (a source never on both sides): about
    ``test_fraction`` for testing and ``valid_fraction`` for validation (each at least 1 and at most
    ``max_held`` sentences), the rest for training."""
    pairs = read_parallel(path)
    groups: dict[str, list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(pair.src_text, []).append(pair)
    keys = sorted(groups)
    if len(keys) < 3:
        raise UserError(f"{path} has {len(keys)} different source sentences; give at least 3")
    random.Random(seed).shuffle(keys)
    n_test = min(max_held, max(1, round(test_fraction * len(keys))))
    n_valid = min(max_held, max(1, round(valid_fraction * len(keys))))
    n_test = min(n_test, len(keys) - 2)
    n_valid = min(n_valid, len(keys) - n_test - 1)
    test = [p for k in keys[:n_test] for p in groups[k]]
    valid = [p for k in keys[n_test:n_test + n_valid] for p in groups[k]]
    train = [p for k in keys[n_test + n_valid:] for p in groups[k]]
    return ParallelData({"kind": "tsv", "path": str(Path(path).resolve()), "seed": seed}, valid, test, train)


def pairs_data(train: list[Pair], valid: list[Pair], test: list[Pair], name: str = "pairs") -> ParallelData:
    """Data from pairs at hand (a view's own, a test's): vocabularies from ``train``, as for a file."""
    if not train:
        raise UserError("there are no training pairs")
    return ParallelData({"kind": name, "seed": 0}, list(valid), list(test), list(train))


def load_data(path: str | Path | None, seed: int = 0, lexicon_size: str = DEFAULT_LEXICON) -> ParallelData:
    """The grammar task (``path`` None) or a parallel text file."""
    return grammar_data(seed, lexicon_size=lexicon_size) if path is None else file_data(path, seed)
