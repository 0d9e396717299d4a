"""The transfer experiment: what pre-training buys when labelled data is scarce (seed 003: "we can train them
unsupervised on a large corpus of data and then fine-tune with a limited amount of data"; seed 002,
11.3.2: without pre-training, large models "may simply overfit small datasets").

For each number of labelled examples and each seed, the same architecture is fine-tuned twice with the
same budget (steps, batch, learning rate): from the pre-trained weights and from a fresh initialisation.
Every point is measured on the same validation set: whole held-out plays (for the genre task, the plays the
default model never saw in pre-training either).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.checkpoint import LoadedModel
from engine.errors import UserError
from engine.finetune import finetune
from engine.labelled import Dataset, genre_dataset, pretraining_val_plays, split_by_group, subsample
from engine.tasks import CancelToken

VAL_SIZE = 600  # validation examples (balanced across classes): enough for +-2 points, cheap to evaluate
EPOCHS = 4.0  # the budget of a size is at least this many passes over it (see steps_for)
GENRE_MAX_CHARS = 200  # the transfer experiment's speeches are cut here: half the cost, the same signal


@dataclass
class Transfer:
    sizes: list[int]
    pretrained: list[list[float]]  # accuracy per size, per seed
    scratch: list[list[float]]
    val_size: int = 0

    @staticmethod
    def _stat(rows: list[list[float]], fn: str) -> list[float]:
        return [float(getattr(np, fn)(r)) if r else float("nan") for r in rows]

    def pretrained_mean(self) -> list[float]:
        return self._stat(self.pretrained, "mean")

    def pretrained_std(self) -> list[float]:
        return self._stat(self.pretrained, "std")

    def scratch_mean(self) -> list[float]:
        return self._stat(self.scratch, "mean")

    def scratch_std(self) -> list[float]:
        return self._stat(self.scratch, "std")

    def gap(self) -> list[float]:
        """Mean accuracy of pre-trained minus from-scratch, per size."""
        return [p - s for p, s in zip(self.pretrained_mean(), self.scratch_mean(), strict=True)]


def task_split(task: str | Dataset, seed: int = 0, val_size: int = VAL_SIZE) -> tuple[Dataset, Dataset]:
    """(training pool, validation set) of a task: ``"genre"`` (speeches cut to 200 characters; validation:
    the default model's held-out plays, see :func:`engine.labelled.pretraining_val_plays`) or a Dataset
    (split by group with ``seed``); validation is subsampled to ``val_size``, balanced across classes."""
    if isinstance(task, str):
        if task != "genre":
            raise UserError(f"unknown task {task!r}; use genre or a Dataset")
        train, val = split_by_group(genre_dataset(max_chars=GENRE_MAX_CHARS), val_groups=pretraining_val_plays())
    else:
        train, val = split_by_group(task, 0.2, seed)
    return train, subsample(val, val_size, seed)


def transfer_curve(base: LoadedModel, task: str | Dataset, sizes: tuple[int, ...] = (100, 300, 1000, 3000),
                   seeds: tuple[int, ...] = (0, 1, 2), steps: int = 150, lr: float | None = None, batch: int = 16,
                   val_size: int = VAL_SIZE, epochs: float = EPOCHS, token: CancelToken | None = None) -> Transfer:
    """Accuracy on held-out validation data against the number of labelled examples, pre-trained vs from
    scratch (see the module docstring). Each point is reported as soon as it is measured:
    ``token.report(("point", size, seed, "pretrained" | "scratch", accuracy))``.

    The budget of a size is :func:`steps_for` (``steps``, or enough for ``epochs`` passes over the examples
    if that is more), the same for both kinds: with a fixed number of steps the larger sizes are not even
    seen once, and the from-scratch model, which has everything to learn, is starved most."""
    if not sizes or not seeds:
        raise UserError("give at least one size and one seed")
    if any(n < 2 for n in sizes):
        raise UserError("every size must be 2 or more")
    pool, val = task_split(task, val_size=val_size)
    if max(sizes) > len(pool):
        raise UserError(f"the task has {len(pool):,} training examples; the largest size asks for {max(sizes):,}")
    result = Transfer(list(sizes), [[] for _ in sizes], [[] for _ in sizes], len(val))
    for i, n in enumerate(sizes):
        for seed in seeds:
            train = subsample(pool, n, seed)
            for kind, rows in (("pretrained", result.pretrained), ("scratch", result.scratch)):
                if token is not None:
                    token.check()
                ft = finetune(base, train, val, steps=steps_for(n, steps, epochs, batch), lr=lr, batch=batch, seed=seed,
                              pretrained=kind == "pretrained", token=None if token is None else _Quiet(token))
                rows[i].append(float(ft.accuracy))
                if token is not None:
                    token.report(("point", n, seed, kind, float(ft.accuracy)))
    return result


def steps_for(size: int, steps: int, epochs: float = 0.0, batch: int = 16) -> int:
    """The fine-tuning budget for ``size`` examples: ``steps``, or ``epochs`` passes if that takes more."""
    return max(steps, math.ceil(epochs * size / batch))


class _Quiet(CancelToken):
    """Passes cancel and pause through to the experiment's token, but not the per-step reports."""

    def __init__(self, outer: CancelToken) -> None:
        super().__init__()
        self.outer = outer

    def check(self) -> None:
        self.outer.check()
