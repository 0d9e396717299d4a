"""One vocabulary for every long piece of engine work: training, skip-gram, t-SNE, RL training, ...

A long task is a plain generator of these events (superqt's ``thread_worker`` pattern): the CLI iterates
it in a ``for`` loop, the app runs the same generator in its engine thread (``app.bridge``) and hands
the events to the view that started it. What a task measures goes in ``metrics`` under its own names
(``loss``, ``lr``, ``tokens_per_s`` for training; ``td_error``, ``games_per_s`` for RL; ...), and what
it shows in ``data`` (an attention probe, an embedding frame, a layout), so the app's plumbing never
needs to know which task it carries.

- :class:`Started`: once, when the task has read its data; ``info`` says what it works on.
- :class:`Progress`: after a unit of work (a step, a batch, a game, an iteration).
- :class:`Evaluation`: a measurement at one point of the run (validation loss, an epoch's loss, the
  score against reference opponents).
- :class:`Snapshot`: a picture of the model at one step; the app keeps only the newest one that is
  waiting to be drawn unless the task asks for all of them (an animation's frames).
- :class:`Saved`: a checkpoint or agent file was written.
- :class:`Paused`: the task waits (its token was paused).
- :class:`Finished`: the last event, also after a stop (``stopped``); ``result`` is what the task made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Started:
    info: Any = None


@dataclass
class Progress:
    step: int  # units of work done so far (steps, batches, games, iterations)
    total: int | None  # units planned; None when the budget is time, not units
    elapsed: float  # seconds of work so far
    eta: float | None  # seconds left, when it can be told
    metrics: dict[str, float] = field(default_factory=dict)
    fraction: float | None = None  # of the whole run, 0..1; step / total unless the task knows better

    def __post_init__(self) -> None:
        if self.fraction is None and self.total:
            self.fraction = self.step / self.total


@dataclass
class Evaluation:
    step: int
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Snapshot:
    step: int
    data: Any  # a copy safe to hand to another thread
    keep_all: bool = False  # frames of an animation: none may be dropped on the way to the screen


@dataclass
class Saved:
    step: int
    path: str


@dataclass
class Paused:
    step: int


@dataclass
class Finished:
    summary: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False
    result: Any = None


Event = Started | Progress | Evaluation | Snapshot | Saved | Paused | Finished
