"""The one seam between the GUI and the engine: a single engine thread behind a Qt object.

Two kinds of work, both plain Python that never touches Qt (the patterns of superqt's ``thread_worker``
and Orange's ``TaskState``):

- a **job** (:meth:`EngineBridge.submit`): one function call (attention for a text, a beam search, ...).
  It returns a :class:`Job`; the function's value comes back to the ``on_done`` callback given with it,
  its error to ``on_error``, and ``on_end`` is called once whatever happened. A job submitted under a
  ``key`` replaces an older job of the same key that has not started yet (typing fast queues nothing).
  A function that takes an argument gets the job's :class:`CancelToken` and may stop early.
- a **task** (:meth:`EngineBridge.start_task`): a generator of engine.events (training, skip-gram,
  t-SNE, RL training), one at a time. Its events come back to the ``on_events`` callback of the view that
  started it, its end to ``on_finished``. Between two of its events the engine serves the jobs, in the
  order they came, so the views stay live while training runs; a paused task is simply not pulled.

Nothing is broadcast: every result goes back to the callbacks of the call that asked for it. And nothing
piles up: the engine thread only appends to a bounded outbox, and a 20 Hz QTimer in the GUI thread drains
it (progress in batches, of the snapshots waiting only the newest unless the task keeps them all: the
design notes' karabo-bridge pattern), however fast the engine runs.
"""

from __future__ import annotations

import inspect
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QTimer

from engine.errors import UserError
from engine.events import Finished, Progress, Snapshot
from engine.tasks import Cancelled, CancelToken

DRAIN_HZ = 20
MAX_PROGRESS = 20_000  # progress events waiting in the outbox (at 20 Hz it never gets near)
MAX_EVENTS = 5_000  # other events waiting (animation frames, evaluations)
GC_INTERVAL_S = 1.0
SHUTDOWN_S = 0.5  # how long shutting down waits for the engine thread before the process exits without it

_gui_gc = None


def collect_garbage_in_gui_thread() -> None:
    """Switch off automatic cyclic GC and collect on a GUI-thread timer instead (once per process).

    Python runs the cyclic collector in whichever thread happens to allocate. When that is the engine
    thread and the garbage holds Qt wrappers (a closed window, a replaced plot), their QObjects are
    destroyed off the GUI thread: ~QObject takes a Qt lock and then waits for the GIL that the GUI
    thread holds while it waits for the same lock (a deadlock, or a crash; seen in the GUI tests).
    pyqtgraph's GarbageCollector collects generation by generation on a QTimer, as the threshold would.
    """
    global _gui_gc
    if _gui_gc is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _gui_gc = GarbageCollector(interval=GC_INTERVAL_S)


def error_text(e: BaseException) -> str:
    """What the user reads for an engine error: a UserError as it is, anything else with its type (and
    the traceback on stderr for whoever debugs it)."""
    if isinstance(e, UserError):
        return str(e)
    traceback.print_exception(e)
    return f"{type(e).__name__}: {e}"


def _wants_token(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


@dataclass(eq=False)
class Job:
    """One engine call and what became of it. Created and read in the GUI thread."""

    fn: Callable[..., Any]
    key: str | None = None
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[str], None] | None = None
    on_end: Callable[[Job], None] | None = None
    on_partial: Callable[[list[Any]], None] | None = None  # what it reports as it goes (token.report), in batches
    token: CancelToken = field(default_factory=CancelToken)
    state: str = "pending"  # pending | running | done | failed | superseded | cancelled
    submitted: float = field(default_factory=time.monotonic)
    error: str = ""

    @property
    def settled(self) -> bool:
        return self.state not in ("pending", "running")

    def cancel(self) -> None:
        """Its result will not be delivered; a function that checks its token stops early."""
        self.token.cancel()


@dataclass(eq=False)
class Task:
    """One long piece of work (a generator of engine.events) and its controls. GUI thread."""

    name: str
    make: Callable[[CancelToken], Iterator[Any]]
    on_events: Callable[[list[Any]], None] | None = None
    on_finished: Callable[[Finished | None, str], None] | None = None  # (the Finished event or None, error)
    token: CancelToken = field(default_factory=CancelToken)
    state: str = "running"  # running | paused | stopping | finished
    paused: bool = False  # read by the engine thread: a paused task is not pulled
    # filled in the engine thread, emptied by the drain (under the outbox lock)
    progress: deque[Progress] = field(default_factory=lambda: deque(maxlen=MAX_PROGRESS))
    events: deque[Any] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))
    latest: Snapshot | None = None
    end: tuple[Finished | None, str] | None = None

    def pause(self) -> None:
        if self.state == "running":
            self.state, self.paused = "paused", True

    def resume(self) -> None:
        if self.state == "paused":
            self.state, self.paused = "running", False

    def stop(self) -> None:
        """Ask it to stop at its next step; it still finishes cleanly (saving what it has)."""
        if self.state in ("running", "paused"):
            self.state = "stopping"
            self.token.cancel()
            self.paused = False  # let it run to its clean end

    @property
    def active(self) -> bool:
        return self.state != "finished"


class EngineBridge(QObject):
    """The engine thread and the queue in front of it."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        collect_garbage_in_gui_thread()  # before the engine thread exists
        self._lock = threading.Lock()
        self._pending: dict[Any, Job] = {}  # key (or the job itself) -> job, oldest first
        self._done: list[tuple[Job, str, Any]] = []  # (job, state, value or error text)
        self._partials: dict[Job, deque[Any]] = {}  # what running jobs reported since the last drain
        self._task: Task | None = None  # GUI thread's view of the task slot
        self._engine_task: Task | None = None  # the engine thread's
        self._generator: Iterator[Any] | None = None
        self._current_job: Job | None = None
        self._wake = threading.Event()
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="engine", daemon=True)
        self._thread.start()
        self._timer = QTimer(self)
        self._timer.setInterval(1000 // DRAIN_HZ)
        self._timer.timeout.connect(self.drain)
        self._timer.start()

    # --- GUI side: jobs ---------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], *, key: str | None = None, on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[str], None] | None = None, on_end: Callable[[Job], None] | None = None,
               on_partial: Callable[[list[Any]], None] | None = None) -> Job:
        """Run ``fn`` (or ``fn(token)``) in the engine thread; see the module docstring. What ``fn`` reports as
        it goes (``token.report(value)``) reaches ``on_partial`` in batches, before ``on_done``."""
        job = Job(fn, key, on_done, on_error, on_end, on_partial)
        if on_partial is not None:
            job.token.sink = lambda value, j=job: self._partial(j, value)
        superseded = None
        with self._lock:
            slot = key if key is not None else job
            superseded = self._pending.pop(slot, None)
            self._pending[slot] = job
        if superseded is not None:
            superseded.state = "superseded"
            self._settle(superseded)
        self._wake.set()
        return job

    def cancel(self, job: Job) -> None:
        """Cancel a job: a pending one is dropped at once, a running one when it returns."""
        job.cancel()
        with self._lock:
            slot = job.key if job.key is not None else job
            dropped = self._pending.get(slot) is job and self._pending.pop(slot)
        if dropped:
            job.state = "cancelled"
            self._settle(job)

    # --- GUI side: the task -----------------------------------------------------------------

    def start_task(self, name: str, make: Callable[[CancelToken], Iterator[Any]], *,
                   on_events: Callable[[list[Any]], None] | None = None,
                   on_finished: Callable[[Finished | None, str], None] | None = None) -> Task | None:
        """Start long work ``make(token)`` (a generator) unless a task is running; None if one is."""
        if self._task is not None and self._task.active:
            return None
        task = Task(name, make, on_events, on_finished)
        self._task = task
        with self._lock:
            self._engine_task = task
        self._wake.set()
        return task

    @property
    def task(self) -> Task | None:
        """The task running (or paused, or stopping), None when the slot is free."""
        return self._task if self._task is not None and self._task.active else None

    @property
    def busy(self) -> bool:
        return self.task is not None

    # --- GUI side: shutting down --------------------------------------------------------------

    def shutdown(self, timeout: float = SHUTDOWN_S) -> bool:
        """Cancel everything, then wait at most ``timeout`` s for the engine thread; True if it ended.

        A task that is stopped saves its checkpoint first (its own clean end); a job stuck in a long
        call that never checks its token is left behind (the thread is a daemon: the process can exit)."""
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
            running = self._current_job
        for job in pending:
            job.token.cancel()
            job.state = "cancelled"
        if running is not None:
            running.token.cancel()  # a job that checks its token stops at its next check
        if self._task is not None:
            self._task.stop()
        self._quit.set()
        self._wake.set()
        self._thread.join(timeout)
        self._timer.stop()
        self.drain()
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def idle(self) -> bool:
        """No job waiting or running and no task (tests and --screenshot wait for this)."""
        with self._lock:
            return not self._pending and not self._running_job() and self.task is None

    def _running_job(self) -> bool:
        return self._current_job is not None

    # --- GUI side: delivering ---------------------------------------------------------------

    def _settle(self, job: Job) -> None:
        if job.on_end is not None:
            job.on_end(job)

    def _partial(self, job: Job, value: Any) -> None:  # engine thread
        with self._lock:
            self._partials.setdefault(job, deque(maxlen=MAX_EVENTS)).append(value)

    def drain(self) -> None:
        """Hand what the engine produced to the callbacks that asked for it (GUI thread, 20 Hz)."""
        with self._lock:
            partials, self._partials = self._partials, {}
            done, self._done = self._done, []
            task = self._task
            events: list[Any] = []
            end = None
            if task is not None:
                events = [*task.progress, *task.events]
                if task.latest is not None:
                    events.append(task.latest)
                task.progress.clear()
                task.events.clear()
                task.latest = None
                end, task.end = task.end, None
        for job, values in partials.items():
            if not job.token.cancelled and job.on_partial is not None:
                job.on_partial(list(values))
        for job, state, value in done:
            if job.token.cancelled and state in ("done", "failed"):
                state = "cancelled"  # asked to stop: what it returned is not wanted any more
            job.state = state
            try:
                if state == "done" and job.on_done is not None:
                    job.on_done(value)
                elif state == "failed":
                    job.error = value
                    if job.on_error is not None:
                        job.on_error(value)
            finally:
                self._settle(job)
        if task is None:
            return
        if events and task.on_events is not None:
            task.on_events(events)
        if end is not None:
            task.state = "finished"
            if task.on_finished is not None:
                task.on_finished(*end)

    # --- engine thread ----------------------------------------------------------------------

    def _take_job(self) -> Job | None:
        with self._lock:
            if not self._pending:
                return None
            slot = next(iter(self._pending))  # in the order asked (a later job may build on an earlier one)
            job = self._pending.pop(slot)
            self._current_job = job
        job.state = "running"
        return job

    def _run_job(self, job: Job) -> None:
        try:
            if job.token.cancelled:
                raise Cancelled()
            value = job.fn(job.token) if _wants_token(job.fn) else job.fn()
            outcome = ("done", value)
        except Cancelled:
            outcome = ("cancelled", None)
        except BaseException as e:  # reported to the view that asked; the engine goes on
            outcome = ("failed", error_text(e))
        with self._lock:
            self._done.append((job, *outcome))
            self._current_job = None

    def _finish_task(self, task: Task, finished: Finished | None, error: str = "") -> None:
        with self._lock:
            task.end = (finished, error)
            if self._engine_task is task:
                self._engine_task = None
        self._generator = None

    def _step_task(self, task: Task) -> None:
        try:
            if self._generator is None:
                self._generator = task.make(task.token)
            event = next(self._generator)
        except StopIteration:  # a task that ends without a Finished event
            self._finish_task(task, None)
            return
        except Cancelled:
            self._finish_task(task, None)
            return
        except BaseException as e:
            self._finish_task(task, None, error_text(e))
            return
        with self._lock:
            if isinstance(event, Progress):
                task.progress.append(event)
            elif isinstance(event, Snapshot) and not event.keep_all:
                task.latest = event  # only the newest matters to the eye; the view keeps its history
            elif not isinstance(event, Finished):
                task.events.append(event)
        if isinstance(event, Finished):
            self._finish_task(task, event)

    def _loop(self) -> None:
        while True:
            with self._lock:
                task = self._engine_task
            if self._quit.is_set() and task is None:
                return
            job = self._take_job()
            if job is not None:
                self._run_job(job)
            if task is not None and not task.paused:
                self._step_task(task)
            elif job is None:
                self._wake.wait(0.1)
                self._wake.clear()
