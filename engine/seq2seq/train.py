"""Training a translator for a number of steps or a wall time, with live snapshots and autosave.

Seed 000: "Train it using data set of translated sentences by backpropagation through time" (autograd
through the unrolled recurrent loop; the transformer in parallel). The loss is the mean cross-entropy of
every target word and <eos> under teacher forcing (the decoder reads the reference's previous word).
Adam with gradient clipping at norm 1; the learning rate warms up over the first 100 steps and then
follows a cosine from 1 to 0.1 over the budget (steps, or seconds with ``minutes``), so a run of any
length ends with small steps. Batches are made from a pool of 32 batches sorted by source length (less
padding: a recurrent network pays for every padded step).

Time counts training only: validation (greedy exact match on the validation sentences, ``evals`` times
over the budget and at the end) pauses the clock, so families given the same minutes get the same
training time. ``clock="cpu"`` counts the training thread's CPU time instead of the wall clock
(time.thread_time): on a machine shared with other work, families given the same minutes then get the same
compute, whatever else was running (with one torch thread it equals the wall time of an idle machine).
``token`` (engine.tasks.CancelToken) is checked between steps and receives a
:class:`TrainPoint` after every step (``kind="step"``: loss) and every validation (``kind="eval"``: exact
match). With ``out``, the checkpoint is saved at every validation (autosave; atomic, engine.seq2seq.
checkpoint) and at the end; a cancelled run saves what it has before it stops.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.errors import UserError
from engine.seq2seq.data import ParallelData
from engine.seq2seq.decode import Translator, make_batch
from engine.seq2seq.evaluate import exact_match
from engine.seq2seq.grammar import MAX_WORDS, Pair
from engine.seq2seq.models import Seq2SeqConfig, build_model, family_of, loss_of
from engine.seq2seq.vocab import PAD_ID, build_vocab
from engine.tasks import Cancelled, CancelToken

# the sizes of each family: modest widths that train in minutes on 2 CPU cores
SIZES: dict[str, dict[str, Any]] = {
    "rnn": {"emb": 128, "hidden": 256, "layers": 1},
    "rnn-attention": {"emb": 128, "hidden": 192, "layers": 1},
    "transformer": {"d": 128, "heads": 4, "layers": 2, "ff": 512},
}
LR = {"rnn": 2e-3, "rnn-attention": 2e-3, "transformer": 2e-3}
WARMUP = 100
POOL = 32
MAX_STEPS = 10_000_000
MAX_MINUTES = 24 * 60.0
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}  # what "minutes of training" counts


@dataclass(frozen=True)
class TrainPoint:
    """A live snapshot: after a step (``loss``: that batch's) or a validation (``exact_match``)."""

    kind: str  # "step" | "eval"
    arch: str
    step: int
    seconds: float  # training time so far (validation excluded)
    loss: float | None = None
    exact_match: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    translator: Translator
    steps: int
    seconds: float
    history: list[TrainPoint] = field(default_factory=list)
    valid_exact_match: float | None = None
    out: Path | None = None


def model_config(arch: str, src_vocab: int, tgt_vocab: int, max_source: int, max_target: int,
                 **overrides: Any) -> Seq2SeqConfig:
    """The family's default sizes (:data:`SIZES`) with ``overrides`` (e.g. hidden=64 for a tiny test)."""
    settings = dict(SIZES[family_of(arch)])
    settings.update(overrides)
    return Seq2SeqConfig(arch=arch, src_vocab=src_vocab, tgt_vocab=tgt_vocab, max_source=max_source,
                         max_target=max_target, **settings)


def lengths_of(data: ParallelData) -> tuple[int, int]:
    """(max_source, max_target) a model is built for: room for the grammar's longest sentences, or twice
    the longest of a file and 8 words (translating a longer text is refused with one line)."""
    if data.spec["kind"] == "grammar":
        return MAX_WORDS + 14, 2 * MAX_WORDS
    pairs = data.valid + data.test + data._train
    return (min(1024, 2 * max(len(p.source) for p in pairs) + 8),
            min(1024, 2 * max(len(p.target) for p in pairs) + 8))


def new_translator(data: ParallelData, arch: str, seed: int = 0, **overrides: Any) -> Translator:
    """A freshly initialised translator of ``arch`` with vocabularies built from the data."""
    src_words, tgt_words = data.vocabulary_words()
    src_vocab = build_vocab(src_words, lowercase=data.lowercase)
    tgt_vocab = build_vocab(tgt_words, lowercase=data.lowercase)
    max_source, max_target = lengths_of(data)
    cfg = model_config(arch, src_vocab.vocab_size, tgt_vocab.vocab_size, max_source, max_target, **overrides)
    torch.manual_seed(seed)
    return Translator(build_model(cfg), src_vocab, tgt_vocab, dict(data.spec))


def batches(stream: Iterator[Pair], batch: int, seed: int) -> Iterator[list[Pair]]:
    """Batches of ``batch`` pairs of similar source lengths, in random order."""
    rng = random.Random(seed)
    while True:
        pool = sorted((next(stream) for _ in range(batch * POOL)), key=lambda p: len(p.source))
        chunks = [pool[i:i + batch] for i in range(0, len(pool), batch)]
        rng.shuffle(chunks)
        yield from chunks


def _check_budget(steps: int, minutes: float) -> None:
    if (steps > 0) == (minutes > 0):
        raise UserError("give either a number of steps or a number of minutes to train for")
    if not 0 <= steps <= MAX_STEPS:
        raise UserError(f"steps must be from 0 to {MAX_STEPS:,}")
    if not (math.isfinite(minutes) and 0 <= minutes <= MAX_MINUTES):
        raise UserError(f"minutes must be from 0 to {MAX_MINUTES:g}")


def train(data: ParallelData, arch: str = "transformer", *, steps: int = 0, minutes: float = 0.0, batch: int = 64,
          lr: float | None = None, seed: int = 0, out: str | Path | None = None, evals: int = 10,
          valid_size: int = 200, translator: Translator | None = None, token: CancelToken | None = None,
          clock: str = "wall", **overrides: Any) -> TrainResult:
    """Train a translator of ``arch`` on ``data`` for ``steps`` steps or ``minutes`` of training time (see
    the module docstring). ``translator``: continue training that one instead of a new one; ``overrides``:
    model sizes (:func:`model_config`)."""
    _check_budget(steps, minutes)
    if batch < 1 or evals < 0:
        raise UserError("batch must be 1 or more and evals 0 or more")
    if clock not in CLOCKS:
        raise UserError(f"clock must be one of {', '.join(CLOCKS)} (got {clock!r})")
    now = CLOCKS[clock]
    tr = translator or new_translator(data, arch, seed, **overrides)
    arch = tr.arch
    model = tr.model
    lr = LR[family_of(arch)] if lr is None else float(lr)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    budget = steps if steps else minutes * 60.0
    valid = data.valid[:valid_size]
    stream = batches(data.stream(seed), batch, seed)
    history: list[TrainPoint] = []
    next_eval = 1
    trained = 0.0  # seconds of training, validation excluded
    step = 0
    acc: float | None = None

    def progress() -> float:
        return (step if steps else trained) / budget

    def validate() -> None:
        nonlocal acc
        acc = exact_match(tr, valid) if valid else None
        model.train()
        point = TrainPoint("eval", arch, step, round(trained, 3), exact_match=acc)
        history.append(point)
        if token is not None:
            token.report(point)
        if out is not None:
            _save(tr, out, step, trained, lr, batch, seed, history, acc)

    model.train()
    try:
        while progress() < 1.0:
            if token is not None:
                token.check()
            started = now()
            b = make_batch(tr, next(stream))
            frac = min(1.0, progress())
            scale = min(1.0, (step + 1) / WARMUP) * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
            for group in opt.param_groups:
                group["lr"] = lr * scale
            loss = loss_of(model, b.src, b.src_mask, b.tgt_in, b.tgt_out, PAD_ID)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            value = float(loss.item())
            if not math.isfinite(value):
                raise UserError(f"the loss became {value} at step {step + 1}; try a smaller learning rate")
            step += 1
            trained += now() - started
            point = TrainPoint("step", arch, step, round(trained, 3), loss=value)
            history.append(point)
            if token is not None:
                token.report(point)
            if evals and progress() >= next_eval / evals and progress() < 1.0:
                next_eval = math.floor(progress() * evals) + 1
                validate()
        validate()
    except Cancelled:
        if out is not None and step:
            _save(tr, out, step, trained, lr, batch, seed, history, acc)
        raise
    finally:
        model.eval()
    return TrainResult(tr, step, trained, history, acc, Path(out) if out is not None else None)


def _save(tr: Translator, out: str | Path, step: int, seconds: float, lr: float, batch: int, seed: int,
          history: list[TrainPoint], acc: float | None) -> None:
    from engine.seq2seq.checkpoint import save_translator

    was_training = tr.model.training
    tr.info = {"steps": step, "seconds": round(seconds, 2), "lr": lr, "batch": batch, "seed": seed,
               "valid_exact_match": acc,
               "curve": [[p.step, p.seconds, p.exact_match] for p in history if p.kind == "eval"]}
    save_translator(tr, out)
    tr.model.train(was_training)
