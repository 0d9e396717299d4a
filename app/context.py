"""What the app is on, in one place: the model every view computes with, the corpus, and the training run.

:class:`AppContext` is the app's model layer (napari's pattern: state with change signals, views that
subscribe). It knows

- **the model** (:class:`ModelRef`): the embedded default, a checkpoint the user opened, or a run's model;
  ``modelChanged`` fires when the user picks another. A run's model is used only when the user picks it
  (the run's entry in the model picker, or "Use this model" when it ends); the default is always one
  click away.
- **the corpus** the Training view and the comparison tokenizers use (``corpusChanged``).
- **the run** (:class:`Run`): the transformer training in progress or last finished, with its state,
  step and summary (``runChanged``), and its events as they come (``runProgress``, ``runEvaluations``,
  ``runSnapshot``, ``runSaved``) for the views that follow a run (Training, Attention, Embeddings).

Every engine call goes through ``ctx.engine`` (app.bridge), so the model objects themselves stay in the
engine thread: a ModelRef carries its engine-side handle for the jobs, and plain facts for the GUI.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from app.bridge import EngineBridge, Job
from engine.checkpoint import DEFAULT_CHECKPOINT, is_checkpoint
from engine.errors import UserError
from engine.events import Evaluation, Finished, Progress, Saved, Snapshot, Started
from engine.live import LiveReader, RunStart, live_folder
from engine.models.registry import NAMED
from engine.tasks import CancelToken
from engine.training import TrainConfig, Trainer
from engine.workspace import ModelHandle, Workspace, run_handle

RECENT = 8
TRAINING = "training"  # the task name of a transformer training run


def short_path(path: str | Path) -> str:
    """A folder as the user reads it: relative to the working folder when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


@dataclass(frozen=True)
class ModelRef:
    """Which model: what every view's header names, and the handle its jobs compute with."""

    key: str  # "default", "named:<name>" (smollm2, minilm), "checkpoint:<folder>" or "run:<n>" (a live run)
    name: str  # as the user reads it
    source: str  # "default" | "named" | "checkpoint" | "run"
    step: int  # training steps behind the weights (of a live run: when the ref was made)
    facts: dict[str, Any] = field(default_factory=dict, compare=False)  # ModelHandle.describe()
    path: str | None = None
    live: bool = False  # a run's weights while it trains: they change under the views
    handle: ModelHandle | None = field(default=None, compare=False, repr=False)  # engine thread only

    def label(self, step: int | None = None) -> str:
        """"default model, step 2,000": the model and the step a picture is of (a pretrained model by its
        name alone: it has no training steps of ours)."""
        if self.source == "named" or self.facts.get("architecture", "txe-gpt") != "txe-gpt":
            return self.name
        s = self.step if step is None else step
        live = " (training)" if self.live else ""
        return f"{self.name}{live}, step {s:,}"

    def summary(self) -> str:
        f = self.facts
        if not f:
            return self.name
        kv = f" ({f['H_kv']} key/value)" if f.get("H_kv") and f["H_kv"] != f["H"] else ""
        arch = f"{f['architecture']}, " if f.get("architecture") and f["architecture"] != "txe-gpt" else ""
        return (f"{arch}{f['tokenizer']} tokenizer, L={f['L']} layers, H={f['H']} heads{kv}, d={f['d']}, "
                f"context {f['context']:,}, {f['parameters']:,} parameters")


def short_title(title: str) -> str:
    """"SmolLM2-135M-Instruct (Llama architecture, Q4_1 GGUF)" -> "SmolLM2-135M-Instruct"."""
    return title.split(" (")[0].strip() or title


def ref_for(handle: ModelHandle, live: bool = False, run_number: int = 0) -> ModelRef:
    """A ModelRef for a handle (made in the engine thread, where the handle may be read)."""
    facts = handle.describe()
    named = handle.config.get("name")
    if not live and not handle.is_default and named in NAMED and named != "default":  # a packaged model
        return ModelRef(f"named:{named}", short_title(str(facts.get("title") or named)), "named", handle.step, facts,
                        str(handle.path) if handle.path else None, False, handle)
    if live:
        where = short_path(handle.path) if handle.path else "unsaved run"
        return ModelRef(f"run:{run_number}", f"run {where}", "run", handle.step, facts,
                        str(handle.path) if handle.path else None, True, handle)
    if handle.is_default:
        return ModelRef("default", "default model", "default", handle.step, facts, str(DEFAULT_CHECKPOINT),
                        False, handle)
    assert handle.path is not None
    folder = str(Path(handle.path).resolve())
    return ModelRef(f"checkpoint:{folder}", short_path(folder), "checkpoint", handle.step, facts, folder, False, handle)


def ended_ref(handle: ModelHandle, run_number: int) -> ModelRef:
    """The ref of a run's model once it has stopped training: its saved checkpoint, or (nothing saved) the
    weights in memory. Engine thread."""
    frozen = handle.frozen()
    if frozen.path is not None and is_checkpoint(frozen.path):
        return ref_for(frozen)
    live = ref_for(handle, live=True, run_number=run_number)
    return replace(live, key=f"run:{run_number}:ended", name=f"{live.name} (not saved)", step=frozen.step,
                   live=False, handle=frozen)


FOLLOW_MS = 1000  # a followed run's live log is read this often


@dataclass(eq=False)
class Run:
    """A transformer training run started from the app."""

    number: int
    config: TrainConfig
    resume: bool = False
    overwrite: bool = False
    state: str = "starting"  # starting | running | paused | stopping | finished | failed
    step: int = 0
    steps: int = 0
    started: float = field(default_factory=time.monotonic)
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    ref: ModelRef | None = None  # live while it trains; the saved model after it ends
    last_loss: float | None = None
    external: bool = False  # trained by another process (followed through its live log): no pause or stop here
    updated: float = 0.0  # time.monotonic() of the followed run's last new line

    @property
    def folder(self) -> str:
        return self.config.out

    @property
    def active(self) -> bool:
        return self.state in ("starting", "running", "paused", "stopping")


class AppContext(QObject):
    modelChanged = Signal(object)  # ModelRef
    choicesChanged = Signal()  # the models on offer (recent checkpoints, the run) changed
    corpusChanged = Signal(str)
    runChanged = Signal(object)  # Run: started, ready, paused, resumed, stopping, finished, failed
    runProgress = Signal(object)  # list[Progress] of the run, in order
    runEvaluations = Signal(object)  # list[Evaluation]
    runSnapshot = Signal(object)  # the newest Snapshot (data: engine.training.AttentionProbe)
    runSaved = Signal(object)  # Saved
    scrubStep = Signal(int)  # a view scrubbed the run's timeline to this step: views of the run's snapshots follow
    message = Signal(str, str)  # level ("info" | "error"), text: what the context itself did or failed to do

    def __init__(self, engine: EngineBridge, settings: QSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.settings = settings
        self.workspace = Workspace()  # engine thread only
        self.model: ModelRef | None = None
        self.default: ModelRef | None = None
        self.corpus = "shakespeare"
        self.run: Run | None = None
        self.catalog: list[dict[str, Any]] = []  # the named models installed here (engine.models.list_models)
        self._runs = 0
        self._opening: Job | None = None
        self._reader: LiveReader | None = None  # the live log of a run another process trains
        self._polling: Job | None = None
        self._follow_timer = QTimer(self)
        self._follow_timer.setInterval(FOLLOW_MS)
        self._follow_timer.timeout.connect(self._poll_followed)

    # --- the model ------------------------------------------------------------------------------

    def open_model(self, path: str | Path | None, on_error: Callable[[str], None] | None = None) -> Job:
        """Load a checkpoint folder (None: the default model) in the engine thread, then make it the model.
        On failure the model stays as it was and the error goes to ``on_error`` (else ``message``)."""
        folder = str(path) if path else None

        def job() -> ModelRef:
            return ref_for(self.workspace.open(folder))

        def done(ref: ModelRef) -> None:
            if ref.source == "default":
                self.default = ref
            elif ref.source == "checkpoint":  # named models are always on the list; folders and files are recent
                self.remember(ref.path or "")
            self.set_model(ref)
            self.message.emit("info", f"model: {ref.name} ({ref.summary()})")

        def failed(text: str) -> None:
            (on_error or (lambda t: self.message.emit("error", t)))(text)
            self.choicesChanged.emit()  # the picker goes back to the model in use

        self._opening = self.engine.submit(job, key="context:open", on_done=done, on_error=failed)
        return self._opening

    def load_catalog(self) -> None:
        """Read what the named models are (SmolLM2, MiniLM: settings only, no weights) for the picker."""

        def done(catalog: list[dict[str, Any]]) -> None:
            self.catalog = catalog
            self.choicesChanged.emit()

        from engine.models import list_models

        self.engine.submit(list_models, key="context:catalog", on_done=done)

    def load_default(self) -> None:
        """Load the default model behind the scenes (it stays one click away) without switching to it."""

        def done(ref: ModelRef) -> None:
            self.default = ref
            self.choicesChanged.emit()

        self.engine.submit(lambda: ref_for(self.workspace.open(None)), key="context:default", on_done=done)

    def use_default(self) -> None:
        if self.default is not None:
            self.set_model(self.default)
        else:
            self.open_model(None)

    def set_model(self, ref: ModelRef) -> None:
        if self.model is not None and ref.key == self.model.key and ref.step == self.model.step \
                and ref.handle is self.model.handle:
            return
        self.model = ref
        self.modelChanged.emit(ref)
        self.choicesChanged.emit()

    def remember(self, folder: str) -> None:
        if not folder:
            return
        items = [p for p in self.recent() if p != folder]
        self.settings.setValue("recent/checkpoint", [folder, *items][:RECENT])
        self.choicesChanged.emit()

    def recent(self) -> list[str]:
        value = self.settings.value("recent/checkpoint", []) or []
        items = [value] if isinstance(value, str) else list(value)
        return [p for p in items if p and Path(p).resolve() != DEFAULT_CHECKPOINT.resolve()]

    # --- the corpus --------------------------------------------------------------------------------

    def set_corpus(self, source: str, on_error: Callable[[str], None] | None = None) -> Job:
        """Check a corpus in the engine thread (empty, binary, not UTF-8, huge: refused), then use it."""
        from engine.corpus import load_corpus

        def job() -> int:
            return len(load_corpus(source).text)

        def done(n: int) -> None:
            self.corpus = source
            self.corpusChanged.emit(source)
            self.message.emit("info", f"corpus {source}: {n:,} characters")

        return self.engine.submit(job, key="context:corpus", on_done=done,
                                  on_error=on_error or (lambda t: self.message.emit("error", t)))

    # --- the run -------------------------------------------------------------------------------------

    def start_run(self, cfg: TrainConfig, resume: bool = False, overwrite: bool = False) -> Run | str:
        """Start training ``cfg`` in the engine; the Run, or why it cannot start (another task is running)."""
        self.stop_following()  # the app's own run takes the run's place in every view
        if self.engine.busy:
            assert self.engine.task is not None
            return f"{self.engine.task.name} is still running; stop it first"
        self._runs += 1
        run = Run(self._runs, cfg, resume, overwrite, steps=cfg.steps)
        number = run.number

        def make(token: CancelToken) -> Iterator[Any]:
            # reads the corpus and trains the tokenizer: here, in the engine thread
            trainer = Trainer(cfg, resume=resume, overwrite=overwrite)
            handle = run_handle(trainer)
            yield Started(ref_for(handle, live=True, run_number=number))
            for event in trainer.run(token):
                if isinstance(event, Finished):  # the weights stop changing: a plain ref, made here
                    event = replace(event, result=ended_ref(handle, number))
                yield event

        task = self.engine.start_task(TRAINING, make, on_events=lambda evs: self._run_events(run, evs),
                                      on_finished=lambda fin, err: self._run_finished(run, fin, err))
        if task is None:
            return "another task is running; stop it first"
        self.run = run
        self.runChanged.emit(run)
        return run

    # --- a run another process trains ------------------------------------------------------------

    def follow_run(self, folder: str) -> Run | str:
        """Watch a run that another process trains (``txe train``, ``torchrun``, a cluster writing to a shared
        folder) through its live log (engine.live): its loss curve, evaluations and probe snapshots come to
        the views as the files grow, as a run trained here would. The Run, or why it cannot be followed."""
        if self.run is not None and self.run.active and not self.run.external:
            return "a run is training in the app; stop it before following another"
        try:
            reader = LiveReader.open(folder)
        except UserError as e:
            return str(e)
        self.stop_following()
        self._runs += 1
        out = str(live_folder(folder).with_name(live_folder(folder).name[:-len(".live")]))
        run = Run(self._runs, TrainConfig(out=out), external=True, updated=time.monotonic())
        self.run, self._reader = run, reader
        self.runChanged.emit(run)  # "starting": the views clear the last run's curves and snapshots
        self._follow_timer.start()
        self._poll_followed()
        return run

    def stop_following(self) -> None:
        """Stop watching the followed run (its files are left as they are)."""
        self._follow_timer.stop()
        self._reader = None
        if self.run is not None and self.run.external and self.run.active:
            self.run.state = "finished"
            self.run.summary = {**self.run.summary, "stopped": True, "followed": False}
            self.runChanged.emit(self.run)

    def _poll_followed(self) -> None:
        reader, run = self._reader, self.run
        if reader is None or run is None or not run.external:
            self._follow_timer.stop()
            return
        if self._polling is not None and self._polling.state in ("pending", "running"):
            return  # the last poll is still reading (a large snapshot)

        def failed(text: str) -> None:
            if self._reader is reader:
                self.message.emit("error", f"following {run.folder}: {text}")

        self._polling = self.engine.submit(lambda: reader.poll(), key="context:follow",
                                           on_done=lambda events: self._followed(run, reader, events),
                                           on_error=failed)

    def _followed(self, run: Run, reader: LiveReader, events: list[Any]) -> None:
        if self._reader is not reader or self.run is not run or not events:
            return
        run.updated = time.monotonic()
        batch: list[Any] = []
        for e in events:
            if isinstance(e, RunStart):
                self._run_events(run, batch)
                batch = []
                if run.state != "starting" and not e.resumed:  # the folder's run was started anew
                    run.state, run.step = "starting", 0
                    self.runChanged.emit(run)
                fields = set(TrainConfig.__dataclass_fields__)
                cfg = {k: v for k, v in e.config.items() if k in fields}
                try:
                    run.config = TrainConfig(**{**cfg, "out": run.folder})
                except TypeError:
                    pass  # a log of another version: the folder is still what is followed
                run.steps, run.step, run.state = run.config.steps, e.step, "running"
                self.runChanged.emit(run)
            elif isinstance(e, Finished):
                self._run_events(run, batch)
                batch = []
                run.state = "finished"
                run.summary = {**e.summary, "stopped": e.stopped}
                run.step = int(e.summary.get("steps", run.step) or run.step)
                self._follow_timer.stop()
                self._open_followed(run)
                self.runChanged.emit(run)
            else:
                batch.append(e)
        self._run_events(run, batch)

    def _open_followed(self, run: Run) -> None:
        """When the followed run has ended: its checkpoint becomes the run's model (\"Use this model\")."""
        folder = run.folder

        def job() -> ModelRef:
            return ref_for(self.workspace.open(folder))

        def done(ref: ModelRef) -> None:
            if self.run is run:
                run.ref = ref
                self.remember(folder)
                self.runChanged.emit(run)
                self.choicesChanged.emit()

        self.engine.submit(job, key="context:follow-open", on_done=done,
                           on_error=lambda t: self.message.emit("error", f"the followed run's checkpoint: {t}"))

    def pause_run(self) -> None:
        self._control_run("pause", "paused")

    def resume_run(self) -> None:
        self._control_run("resume", "running")

    def stop_run(self) -> None:
        self._control_run("stop", "stopping")

    def _control_run(self, action: str, state: str) -> None:
        task = self.engine.task
        if task is not None and task.name == TRAINING and self.run is not None and self.run.active:
            getattr(task, action)()
            self.run.state = state
            self.runChanged.emit(self.run)

    def use_run_model(self) -> bool:
        """Make the run's model (live while it trains, else the saved one) the model of every view."""
        if self.run is None or self.run.ref is None:
            return False
        self.set_model(self.run.ref)
        return True

    def _run_events(self, run: Run, events: list[Any]) -> None:
        if not events:
            return
        progress = [e for e in events if isinstance(e, Progress)]
        evals = [e for e in events if isinstance(e, Evaluation)]
        for e in events:
            if isinstance(e, Started):
                run.ref = e.info
                if run.state == "starting":
                    run.state = "running"
                self.runChanged.emit(run)
                self.choicesChanged.emit()
            elif isinstance(e, Saved):
                self.runSaved.emit(e)
        if progress:
            last = progress[-1]
            run.step, run.seconds, run.last_loss = last.step, last.elapsed, last.metrics.get("loss")
            self.runProgress.emit(progress)
        if evals:
            self.runEvaluations.emit(evals)
        snaps = [e for e in events if isinstance(e, Snapshot)]
        if snaps:
            run.step = max(run.step, snaps[-1].step)
            # a followed run's snapshots are its history on disk, each kept for scrubbing; the app's own run
            # hands over only its newest (the engine keeps no backlog of them)
            for snap in snaps if run.external else snaps[-1:]:
                self.runSnapshot.emit(snap)

    def _run_finished(self, run: Run, finished: Finished | None, error: str) -> None:
        live = self.model is not None and run.ref is not None and self.model.key == run.ref.key
        if finished is None:
            run.state, run.error = "failed", error or "the run ended without a result"
        else:
            run.state = "finished"
            run.summary = {**finished.summary, "stopped": finished.stopped}
            run.step = int(finished.summary.get("steps", run.step))
            run.seconds = float(finished.summary.get("train_seconds", run.seconds))
        if finished is not None and isinstance(finished.result, ModelRef):
            run.ref = finished.result
            if run.ref.source == "checkpoint":
                self.remember(run.ref.path or "")
        elif run.ref is not None:  # it failed while training: what it had stays usable, not saved
            run.ref = replace(run.ref, key=f"run:{run.number}:ended", name=f"{run.ref.name} (not saved)", live=False)
        self.runChanged.emit(run)
        self.choicesChanged.emit()
        if live and run.ref is not None:
            self.set_model(run.ref)
