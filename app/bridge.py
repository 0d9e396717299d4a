"""The one seam between the GUI and the engine: a single engine thread behind a Qt object.

Commands go in through :meth:`EngineBridge.submit` (quick requests: attention for a text, a
next-token distribution, ...) and :meth:`EngineBridge.start_task` (long work: a generator such as
``Trainer.run``). The engine thread owns every model, so nothing is shared across threads but copies.

Between two events of the long task it serves the quick requests, newest first: a request replaces an
older pending one of the same kind (typing fast queues nothing). A paused task is simply not pulled,
so requests are still served while training is paused.

Results and events come back as Qt signals, but never one signal per engine event: the engine thread
only appends to a bounded outbox, and a 20 Hz QTimer in the GUI thread drains it and emits at most one
signal of each kind per tick (loss points in a batch, only the newest snapshot; the design notes'
karabo-bridge pattern). Nothing piles up however fast the engine runs.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from engine.errors import UserError
from engine.tasks import CancelToken
from engine.training import Evaluation, Finished, Paused, Progress, Saved, Snapshot

DRAIN_HZ = 20
MAX_POINTS = 20_000  # loss points waiting in the outbox (at 20 Hz it never gets near)
MAX_OTHER = 2_000  # other tasks' events (word2vec epochs, RL statistics) waiting in the outbox
GC_INTERVAL_S = 1.0

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


@dataclass
class Request:
    kind: str  # coalescing key: a newer request of the same kind replaces an older pending one
    fn: Callable[[], Any]
    tag: Any = None


class _Outbox:
    """What the engine thread has for the GUI; bounded, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.progress: deque[Progress] = deque(maxlen=MAX_POINTS)
        self.evaluations: list[Evaluation] = []
        self.snapshot: Snapshot | None = None
        self.results: dict[str, tuple[Any, Any]] = {}  # kind -> (tag, result), newest only
        self.messages: list[tuple[str, str]] = []  # (level, text)
        self.task_state: list[tuple[str, Any]] = []  # ("started"|"paused"|"resumed"|"saved"|"finished", payload)
        self.other: deque[Any] = deque(maxlen=MAX_OTHER)  # events of other kinds of task, oldest dropped

    def put_event(self, event: Any) -> None:
        with self.lock:
            if isinstance(event, Progress):
                self.progress.append(event)
            elif isinstance(event, Evaluation):
                self.evaluations.append(event)
            elif isinstance(event, Snapshot):
                self.snapshot = event  # only the newest matters to the eye; the view keeps its history
            elif isinstance(event, Saved):
                self.task_state.append(("saved", event))
            elif isinstance(event, Paused):
                self.task_state.append(("paused", event))
            elif isinstance(event, Finished):
                self.task_state.append(("finished", event))
            else:
                self.other.append(event)

    def take(self) -> dict[str, Any]:
        with self.lock:
            out = {"progress": list(self.progress), "evaluations": self.evaluations, "snapshot": self.snapshot,
                   "results": self.results, "messages": self.messages, "task_state": self.task_state,
                   "other": list(self.other)}
            self.progress.clear()
            self.other.clear()
            self.evaluations, self.snapshot, self.results, self.messages, self.task_state = [], None, {}, [], []
        return out


class EngineBridge(QObject):
    progress = Signal(list)  # list[Progress], in order
    evaluation = Signal(list)  # list[Evaluation]
    snapshot = Signal(object)  # the newest Snapshot
    result = Signal(str, object, object)  # kind, tag, result
    message = Signal(str, str)  # level ("info" | "error"), text
    # Task signals carry the task's name ("training", "word2vec", "rl", ...): a view reacts to its own only.
    task_started = Signal(str)
    task_paused = Signal(str, bool)
    task_saved = Signal(object)  # Saved
    task_finished = Signal(str, object)  # name, Finished (or None after an error or a plain end)
    task_events = Signal(list)  # events of other kinds of task (any objects), in order, once per tick

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        collect_garbage_in_gui_thread()  # before the engine thread exists
        self._outbox = _Outbox()
        self._pending: dict[str, Request] = {}
        self._pending_lock = threading.Lock()
        self._wake = threading.Event()
        self._task: Iterator[Any] | None = None
        self._task_name = ""
        self._task_token: CancelToken | None = None
        self._paused = False
        self._busy = False  # GUI-thread view: a task was started and has not finished yet
        self._control: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="engine", daemon=True)
        self._thread.start()
        self._timer = QTimer(self)
        self._timer.setInterval(1000 // DRAIN_HZ)
        self._timer.timeout.connect(self._drain)
        self._timer.start()

    # --- GUI side ---------------------------------------------------------------------------

    def submit(self, kind: str, fn: Callable[[], Any], tag: Any = None) -> None:
        """Run ``fn`` in the engine thread; its return value arrives as ``result(kind, tag, value)``."""
        with self._pending_lock:
            self._pending[kind] = Request(kind, fn, tag)
        self._wake.set()

    def start_task(self, name: str, make: Callable[[CancelToken], Iterator[Any]]) -> bool:
        """Start long work ``make(token)`` (a generator) unless one is running; False if busy."""
        if self.busy:
            self.message.emit("error", f"{self._task_name} is still running; stop it first")
            return False
        self._control.put(("start", (name, make)))
        self._task_name = name
        self._busy = True
        self._wake.set()
        return True

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def task_name(self) -> str:
        return self._task_name

    def pause(self) -> None:
        self._control.put(("pause", None))
        self._wake.set()

    def resume(self) -> None:
        self._control.put(("resume", None))
        self._wake.set()

    def stop(self) -> None:
        """Ask the task to stop at its next step; it still finishes cleanly (saving what it has)."""
        self._control.put(("stop", None))
        self._wake.set()

    def shutdown(self, timeout: float = 30.0) -> None:
        self.stop()
        self._quit.set()
        self._wake.set()
        self._thread.join(timeout)
        self._timer.stop()
        self._drain()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _drain(self) -> None:
        box = self._outbox.take()
        for level, text in box["messages"]:
            self.message.emit(level, text)
        if box["progress"]:
            self.progress.emit(box["progress"])
        if box["evaluations"]:
            self.evaluation.emit(box["evaluations"])
        if box["snapshot"] is not None:
            self.snapshot.emit(box["snapshot"])
        if box["other"]:
            self.task_events.emit(box["other"])
        for kind, (tag, value) in box["results"].items():
            self.result.emit(kind, tag, value)
        for state, payload in box["task_state"]:
            if state == "started":
                self.task_started.emit(payload)
            elif state == "paused":
                self.task_paused.emit(self._task_name, bool(payload))
            elif state == "saved":
                self.task_saved.emit(payload)
            elif state == "finished":
                name, self._busy, self._task_name = self._task_name, False, ""
                self.task_finished.emit(name, payload)

    # --- engine thread ----------------------------------------------------------------------

    def _post(self, state: str, payload: Any) -> None:
        with self._outbox.lock:
            self._outbox.task_state.append((state, payload))

    def _error(self, e: BaseException) -> None:
        text = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
        if not isinstance(e, UserError):
            traceback.print_exc()
        with self._outbox.lock:
            self._outbox.messages.append(("error", text))

    def _handle_control(self) -> None:
        while True:
            try:
                cmd, arg = self._control.get_nowait()
            except queue.Empty:
                return
            if cmd == "start" and self._task is None:
                name, make = arg
                self._task_token = CancelToken()
                try:
                    self._task = make(self._task_token)
                except BaseException as e:  # a bad config: report, keep running
                    self._error(e)
                    self._post("finished", None)
                    continue
                self._paused = False
                self._post("started", name)
            elif cmd == "pause" and self._task is not None and not self._paused:
                self._paused = True
                self._post("paused", True)
            elif cmd == "resume" and self._task is not None and self._paused:
                self._paused = False
                self._post("paused", False)
            elif cmd == "stop" and self._task is not None and self._task_token is not None:
                self._task_token.cancel()
                self._paused = False  # let it run to its clean end (it saves and finishes)

    def _serve_one_request(self) -> bool:
        with self._pending_lock:
            if not self._pending:
                return False
            kind = next(iter(self._pending))
            req = self._pending.pop(kind)
        try:
            value = req.fn()
        except BaseException as e:
            self._error(e)
            return True
        with self._outbox.lock:
            self._outbox.results[req.kind] = (req.tag, value)
        return True

    def _loop(self) -> None:
        while not self._quit.is_set() or self._task is not None:
            self._handle_control()
            served = self._serve_one_request()
            if self._task is not None and not self._paused:
                try:
                    event = next(self._task)
                except StopIteration:  # a task that ends without a Finished event
                    self._task = None
                    self._post("finished", None)
                    continue
                except BaseException as e:
                    self._error(e)
                    self._task = None
                    self._post("finished", None)
                    continue
                self._outbox.put_event(event)
                if isinstance(event, Finished):
                    self._task = None
            elif not served:
                self._wake.wait(0.1)
                self._wake.clear()
