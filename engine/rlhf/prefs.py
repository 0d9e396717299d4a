"""Preference data: pairs of continuations of a prompt, and which one is preferred.

One pair per line of a JSONL file, in the field's common layout (Anthropic's HH-RLHF, TRL)::

    {"prompt": "HELENA:\\nCall you me fair? ...\\n", "chosen": "...", "rejected": "...", "tie": false,
     "source": "judge:rhyme"}

``tie`` (optional, false by default) marks a pair judged equally good: the reward model learns that their
rewards are equal (a Bradley-Terry target of 1/2), DPO leaves it out. ``source`` says who judged: ``user``
in the app, ``judge:NAME`` for a scripted judge (engine.rlhf.judges), or anything a file brings.

:func:`judge_pairs` makes pairs by sampling two lines per prompt from a model and asking a judge; ties are
drawn again (a judge that rarely separates two lines, such as ``word:WORD`` with a word the model seldom
writes, needs more samples per pair).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from engine.errors import UserError
from engine.events import Finished, Progress, Started
from engine.files import atomic_write_text
from engine.rlhf.judges import Judge
from engine.rlhf.rollout import MAX_NEW, sample_lines
from engine.tasks import CancelToken

MAX_PAIRS_BYTES = 256 * 2**20
MAX_TEXT = 20_000  # characters of one prompt or continuation
MAX_DRAWS = 8  # samples per pair a judge may need before the prompt is given up


@dataclass
class Pair:
    prompt: str
    chosen: str
    rejected: str
    tie: bool = False
    source: str = "user"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_pairs(pairs: list[Pair], path: str | Path) -> Path:
    """Write the pairs as JSONL, atomically (a crash leaves the old file or the new one)."""
    text = "".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in pairs)
    return atomic_write_text(path, text, "the preference pairs")


def read_pairs(path: str | Path) -> list[Pair]:
    """The pairs of a JSONL file. One UserError line for a missing, empty, binary, undecodable or too large
    file, a line that is not a JSON object with string ``prompt``, ``chosen`` and ``rejected`` (its number
    said), or a file with no pair."""
    from engine.corpus import read_utf8

    p = Path(path)
    text = read_utf8(p, MAX_PAIRS_BYTES, "a preference file", "a JSONL file of preference pairs")
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except (ValueError, RecursionError):
            raise UserError(f"{p}, line {number}: not JSON (one pair per line: prompt, chosen, rejected)") from None
        if not isinstance(raw, dict):
            raise UserError(f"{p}, line {number}: a pair is a JSON object with prompt, chosen and rejected")
        for key in ("prompt", "chosen", "rejected"):
            if not isinstance(raw.get(key), str):
                raise UserError(f"{p}, line {number}: {key!r} must be a string")
            if len(raw[key]) > MAX_TEXT:
                raise UserError(f"{p}, line {number}: {key!r} is longer than {MAX_TEXT:,} characters")
        if not (raw["chosen"].strip() or raw["rejected"].strip()) and not raw.get("tie"):
            raise UserError(f"{p}, line {number}: both continuations are empty")
        tie = raw.get("tie", False)
        if not isinstance(tie, bool):
            raise UserError(f"{p}, line {number}: 'tie' must be true or false")
        source = raw.get("source", "file")
        pairs.append(Pair(raw["prompt"], raw["chosen"], raw["rejected"], tie, str(source)[:100]))
    if not pairs:
        raise UserError(f"{p} has no preference pairs (one JSON object per line: prompt, chosen, rejected)")
    return pairs


def judge_pairs(model: Any, tokenizer: Any, judge: Judge, prompts: list[str], n: int, seed: int = 0,
                max_new: int = MAX_NEW, batch: int = 16, token: CancelToken | None = None) -> Iterator[Any]:
    """Events of making ``n`` pairs: two lines sampled per prompt (prompts taken in a shuffled order with
    ``seed``), the judge's verdict; a tie is drawn again up to :data:`MAX_DRAWS` times. Progress after each
    batch of prompts; Finished(result=list of Pair)."""
    import time

    if n < 1:
        raise UserError("the number of pairs must be 1 or more")
    if not prompts:
        raise UserError("no prompts to sample from")
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    order = list(prompts)
    rng.shuffle(order)
    pairs: list[Pair] = []
    drawn = 0
    started = time.perf_counter()
    yield Started({"judge": judge.name, "pairs": n})
    cursor = 0
    while len(pairs) < n:
        if token is not None:
            token.check()
        chunk = [order[(cursor + i) % len(order)] for i in range(batch)]
        cursor += batch
        if drawn > MAX_DRAWS * n:
            raise UserError(f"the judge {judge.name} found a difference in only {len(pairs)} of {drawn} pairs; "
                            "choose another judge or word")
        lines = sample_lines(model, tokenizer, chunk, k=2, max_new=max_new, generator=gen)
        for a, b in zip(lines[::2], lines[1::2], strict=True):
            drawn += 1
            verdict = judge.prefer(a.prompt, a.text, b.text)
            if verdict == 0 or len(pairs) >= n:
                continue
            good, bad = (a, b) if verdict > 0 else (b, a)
            pairs.append(Pair(a.prompt, good.text, bad.text, False, f"judge:{judge.name}"))
        elapsed = time.perf_counter() - started
        yield Progress(len(pairs), n, elapsed, elapsed / len(pairs) * (n - len(pairs)) if pairs else None,
                       {"pairs": len(pairs), "drawn": drawn})
    yield Finished({"pairs": len(pairs), "drawn": drawn, "judge": judge.name,
                    "seconds": round(time.perf_counter() - started, 2)}, False, pairs)
