"""The story of seeds 000 and 002: train the three families for the same wall time and compare accuracy
against source length.

An RNN encoder-decoder without attention squeezes the whole source into its last state, and "will
perform increasingly poorly as the input sentence gets longer" (seed 002 11.2.1); attention lets the
decoder look back at every source word; the transformer keeps only attention (11.3) and trains in
parallel over positions. :func:`story` trains one model of each family (:data:`STORY_ARCHS`) with the
same training time, then evaluates each on the same held-out sentences, bucket by source length.

Live reports for a view (``token.report``): ``StoryEvent("train", arch, point=TrainPoint)`` during each
training (loss after each step, validation exact match ``evals`` times), ``StoryEvent("result", arch,
result=FamilyResult)`` when a family's evaluation is done. The returned :class:`Story` (``to_dict``) is
what ``assets/seq2seq-story.json`` holds for the project's own run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.seq2seq.data import BUCKETS, ParallelData, bucket_name
from engine.seq2seq.evaluate import evaluate
from engine.seq2seq.models import family_of
from engine.seq2seq.train import TrainPoint, train
from engine.tasks import CancelToken

STORY_ARCHS = ("gru", "rnn-attention", "transformer")  # no attention (seed 000's GRU), attention, transformer
FORMAT = "txe-seq2seq-story"


@dataclass
class FamilyResult:
    """One family's run: its training and its held-out evaluation."""

    arch: str
    family: str
    steps: int
    seconds: float  # training time
    parameters: int
    exact_match_by_length: dict[str, float]  # bucket -> accuracy
    counts: dict[str, int]
    by_length: dict[str, list[int]]  # exact source length -> [correct, total]
    bleu: float
    exact_match: float
    curve: list[list[float | None]] = field(default_factory=list)  # [step, seconds, validation exact match]
    mistakes: list[dict] = field(default_factory=list)


@dataclass
class StoryEvent:
    kind: str  # "train" | "result"
    arch: str
    point: TrainPoint | None = None
    result: FamilyResult | None = None


@dataclass
class Story:
    minutes: float  # training time given to each family
    buckets: list[str]
    families: dict[str, FamilyResult]
    data: dict
    test_sentences: int
    machine: str = ""
    wall_seconds: float = 0.0
    clock: str = "wall"  # what the minutes counted: the wall clock or each training thread's CPU time

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": 1, "minutes": self.minutes, "buckets": self.buckets,
                "data": self.data, "test_sentences": self.test_sentences, "machine": self.machine,
                "wall_seconds": round(self.wall_seconds, 1), "clock": self.clock,
                "families": {a: asdict(r) for a, r in self.families.items()}}

    @classmethod
    def from_dict(cls, raw: dict) -> Story:
        families = {a: FamilyResult(**r) for a, r in raw["families"].items()}
        return cls(raw["minutes"], list(raw["buckets"]), families, raw["data"], raw["test_sentences"],
                   raw.get("machine", ""), raw.get("wall_seconds", 0.0), raw.get("clock", "wall"))


class _Relay(CancelToken):
    """Passes the story's cancel and pause through, and turns a training's points into story events."""

    def __init__(self, outer: CancelToken, arch: str) -> None:
        super().__init__()
        self.outer, self.arch = outer, arch

    def check(self) -> None:
        self.outer.check()

    def report(self, value: TrainPoint) -> None:  # type: ignore[override]
        self.outer.report(StoryEvent("train", self.arch, point=value))


def story(data: ParallelData, minutes: float, archs: tuple[str, ...] = STORY_ARCHS, seed: int = 0,
          batch: int = 64, out_dir: str | Path | None = None, token: CancelToken | None = None,
          evals: int = 10, clock: str = "wall", **overrides: object) -> Story:
    """Train each of ``archs`` for ``minutes`` of training time on ``data`` and evaluate it on the held-out
    test set (see the module docstring). ``out_dir``: keep each family's checkpoint in ``out_dir/ARCH``;
    ``clock``: what the minutes count (engine.seq2seq.train.train)."""
    token = token or CancelToken()
    started = time.perf_counter()
    families: dict[str, FamilyResult] = {}
    for arch in archs:
        out = Path(out_dir) / arch if out_dir is not None else None
        result = train(data, arch, minutes=minutes, batch=batch, seed=seed, out=out, evals=evals,
                       token=_Relay(token, arch), clock=clock, **overrides)
        ev = evaluate(result.translator, data.test, token=token)
        fam = FamilyResult(arch, family_of(arch), result.steps, round(result.seconds, 1),
                           result.translator.model.num_parameters(), ev.exact_match_by_length, ev.counts,
                           {str(n): v for n, v in sorted(ev.by_length.items())}, ev.bleu, ev.exact_match,
                           [[p.step, p.seconds, p.exact_match] for p in result.history if p.kind == "eval"],
                           ev.mistakes)
        families[arch] = fam
        token.report(StoryEvent("result", arch, result=fam))
    return Story(minutes, [bucket_name(lo, hi) for lo, hi in BUCKETS], families, dict(data.spec), len(data.test),
                 wall_seconds=time.perf_counter() - started, clock=clock)
