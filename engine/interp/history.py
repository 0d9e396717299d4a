"""A model's training history as the Head scores view draws it: the four head scores of every head over the
steps, the loss curve beneath, and the step where the induction heads appear (issue 15).

Where a history comes from (:func:`model_history`):

- a run training in the app: its Trainer's ``head_history`` (a measurement at each snapshot) and losses;
- a saved checkpoint: trainer.json ``head_scores`` (engine.training.read_head_history) and ``history``;
- a checkpoint written by ``txe icl train`` (engine.interp.icl.save_icl): the same, plus its measurements'
  first- and second-copy losses and its recorded target step;
- a live ``train_icl`` run: :func:`from_icl_points` on the points it has measured so far.

The marker (:func:`induction_marker`): an ICL run's recorded target step when it has one (largest induction
score >= 0.9 and second-copy loss < 0.2 x the first's), otherwise the first measurement whose largest
induction score is >= :data:`INDUCTION_APPEARS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.interp.heads import SCORES

INDUCTION_APPEARS = 0.5


@dataclass
class HeadHistory:
    steps: np.ndarray  # (N,) steps of the measurements
    scores: dict[str, np.ndarray]  # name -> (N, L, H)
    loss_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M,)
    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (M,) training loss
    ratio_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ICL runs: second / first-copy loss
    ratio: np.ndarray = field(default_factory=lambda: np.zeros(0))
    target_step: int | None = None  # an ICL run's recorded target step
    source: str = ""  # "run", "checkpoint", "icl checkpoint", "icl run"

    @property
    def empty(self) -> bool:
        return len(self.steps) == 0

    @property
    def shape(self) -> tuple[int, int]:
        a = self.scores.get("induction")
        return (0, 0) if a is None or a.ndim != 3 else (int(a.shape[1]), int(a.shape[2]))


def empty_history(source: str = "") -> HeadHistory:
    return HeadHistory(np.zeros(0), {k: np.zeros((0, 0, 0)) for k in SCORES}, source=source)


def induction_marker(h: HeadHistory, threshold: float = INDUCTION_APPEARS) -> tuple[int | None, str]:
    """The step the marker goes at, and how it was chosen (for the caption)."""
    if h.target_step is not None:
        return int(h.target_step), "the ICL run's recorded target step (largest induction score >= 0.9 and " \
                                   "second-copy loss < 0.2 x first-copy loss)"
    rule = f"the first measurement whose largest induction score is >= {threshold:g}"
    if h.empty:
        return None, rule
    best = h.scores["induction"].reshape(len(h.steps), -1).max(1)
    hits = np.nonzero(best >= threshold)[0]
    return (int(h.steps[hits[0]]) if len(hits) else None), rule


def _from_raw(raw: dict[str, Any], L: int, H: int) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    from engine.model import ModelConfig
    from engine.training import read_head_history

    cfg = ModelConfig(vocab_size=8, context=8, d=H, H=H, L=L)
    h = read_head_history(raw, cfg)
    if not h["step"]:
        return None
    return np.asarray(h["step"], dtype=np.float64), {k: np.asarray(h[k], dtype=np.float64) for k in SCORES}


def from_icl_points(points: list[dict[str, Any]], losses: list[float] | None = None,
                    target_step: int | None = None, source: str = "icl run") -> HeadHistory:
    """A history from train_icl's measurements (IclPoint.to_dict()), and every step's loss when known (else
    the loss at each measurement)."""
    if not points:
        return empty_history(source)
    steps = np.array([p["step"] for p in points], dtype=np.float64)
    scores = {k: np.asarray([p["scores"][k] for p in points], dtype=np.float64) for k in SCORES}
    if losses:
        loss_steps, loss = np.arange(1, len(losses) + 1, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    else:
        loss_steps, loss = steps, np.array([p["loss"] for p in points], dtype=np.float64)
    first = np.array([p["first_repeat_loss"] for p in points], dtype=np.float64)
    second = np.array([p["second_repeat_loss"] for p in points], dtype=np.float64)
    ratio = np.divide(second, first, out=np.full_like(first, np.inf), where=first > 0)
    return HeadHistory(steps, scores, loss_steps, loss, steps, ratio, target_step, source)


def model_history(handle: Any) -> HeadHistory:
    """The history of a ModelHandle (module docstring); empty when it has none. Engine thread."""
    trainer = getattr(handle, "trainer", None)
    cfg = handle.model.cfg
    if trainer is not None:  # a run training in the app: its measurements so far
        got = _from_raw(trainer.head_history, cfg.L, cfg.H)
        if got is None:
            return empty_history("run")
        hist = trainer.history
        return HeadHistory(got[0], got[1], np.asarray(hist.get("step", []), dtype=np.float64),
                           np.asarray(hist.get("loss", []), dtype=np.float64), source="run")
    icl = handle.config.get("icl") if isinstance(handle.config, dict) else None
    raw: dict[str, Any] = {}
    path = Path(handle.path) if getattr(handle, "path", None) else None
    if path is not None and path.is_dir() and (path / "trainer.json").is_file() \
            and (path / "trainer.json").stat().st_size < 2**30:
        try:
            raw = json.loads((path / "trainer.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = {}
    if isinstance(icl, dict) and isinstance(icl.get("history"), list) and icl["history"]:
        losses = (raw.get("history") or {}).get("loss") if isinstance(raw, dict) else None
        try:
            return from_icl_points(icl["history"], losses if isinstance(losses, list) else None,
                                   icl.get("target_step"), "icl checkpoint")
        except (KeyError, TypeError, ValueError):
            pass
    got = _from_raw(raw.get("head_scores") if isinstance(raw, dict) else None, cfg.L, cfg.H)
    if got is None:
        return empty_history("checkpoint")
    h = raw.get("history") or {}
    steps, loss = h.get("step", []), h.get("loss", [])
    if not (isinstance(steps, list) and isinstance(loss, list) and len(steps) == len(loss)):
        steps, loss = [], []
    return HeadHistory(got[0], got[1], np.asarray(steps, dtype=np.float64), np.asarray(loss, dtype=np.float64),
                       source="checkpoint")
