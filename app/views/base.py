"""The view contract: how every view is built, asks the engine, and says what its picture is of.

A view is a :class:`View`: a QWidget made from the app's context (app.context.AppContext), with a
:class:`~app.widgets.header.ViewHeader` on top. It

- computes its picture in :meth:`View.refresh` from ``ctx.model`` and its own input, through
  :meth:`View.run`: a job whose result comes back to the callback given with it (never a broadcast), with
  a busy indicator after 0.3 s (and Cancel where the work can take longer), its error shown in the
  view's header and cleared by the view's next success;
- names the model (and step) and the input of its picture in the header (:meth:`View.show_source`);
- follows the model: when the user picks another one, a visible view recomputes at once and a hidden
  one is marked out of date and recomputes when it is shown (:meth:`View.model_changed`);
- counts what it has drawn in ``painted`` (tests and --screenshot wait on it) and is ``settled`` when
  nothing of its own is pending and its picture is up to date.

Qt stays in app/; what a view computes is an engine function (engine/), so everything a view shows can
also be computed headless.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QLineEdit, QVBoxLayout, QWidget

from app.bridge import Job
from app.export import save_png, save_svg
from app.widgets.header import ViewHeader
from engine.errors import UserError

if TYPE_CHECKING:
    from app.context import AppContext, ModelRef


class ExportLater(Exception):  # noqa: N818 (not an error: a way out of export())
    """Raised by an export writer that goes on in the engine thread: its job says when the file is written."""


class View(QWidget):
    key: ClassVar[str] = ""  # also the prefix of its controls' objectNames: "attention.text", ...
    title: ClassVar[str] = ""
    follows_model: ClassVar[bool] = True  # False for views that never use the language model (the Arena)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.setObjectName(f"{self.key}.view")
        self.ctx = ctx
        self.header = ViewHeader(self.key)
        self.painted = 0
        self.stale_reason = ""
        self._jobs: list[Job] = []
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(6, 4, 6, 6)
        self.layout_.addWidget(self.header)
        if self.follows_model:
            ctx.modelChanged.connect(self.model_changed)

    # --- what subclasses provide ------------------------------------------------------------------

    def refresh(self) -> None:
        """Compute the picture again for ``ctx.model`` and the view's input."""

    def model_changed(self, ref: ModelRef) -> None:
        if self.isVisible():
            self.refresh()
        else:
            self.mark_stale(f"now on {ref.name}")

    def debounced(self, then: Callable[[], None], ms: int = 200, edit: QLineEdit | None = None) -> QTimer:
        """A single-shot timer calling ``then`` ``ms`` after it was last started (by each edit of ``edit``, when
        given): a pause in typing, not every keystroke, starts engine work."""
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(ms)
        timer.timeout.connect(then)
        if edit is not None:
            edit.textEdited.connect(lambda _: timer.start())
        return timer

    # --- the engine ------------------------------------------------------------------------------

    def run(self, fn: Callable[..., Any], on_done: Callable[[Any], None], *, key: str | None = None,
            what: str = "computing", cancellable: bool = False,
            on_error: Callable[[str], None] | None = None,
            on_partial: Callable[[list[Any]], None] | None = None) -> Job:
        """Run ``fn`` in the engine thread; its value goes to ``on_done`` (after the view's error is cleared),
        its error to ``on_error`` or the header. A job with a ``key`` replaces the view's pending one of the
        same key."""

        def done(value: Any) -> None:
            self.header.clear_error()
            on_done(value)

        def failed(text: str) -> None:
            if on_error is not None:
                on_error(text)
            else:
                self.show_error(text)

        job = self.ctx.engine.submit(fn, key=f"{self.key}:{key}" if key else None, on_done=done, on_error=failed,
                                     on_end=self._job_ended, on_partial=on_partial)
        self._jobs.append(job)
        self.header.busy_started(job, what, (lambda: self.ctx.engine.cancel(job)) if cancellable else None)
        return job

    def start_task(self, name: str, make: Callable[[Any], Any], on_events: Callable[[list[Any]], None],
                   on_finished: Callable[[Any, str], None], what: str = "it") -> Any:
        """Start long work as the engine's one task (app.bridge.EngineBridge.start_task); the Task, or None
        after saying in the header which task is running (``what`` can start when it has finished)."""
        task = self.ctx.engine.start_task(name, make, on_events=on_events, on_finished=on_finished)
        if task is None:
            running = self.ctx.engine.task.name if self.ctx.engine.task is not None else "another task"
            self.show_error(f"{running} is running; {what} can start when it has finished (or stop it)")
            return None
        self.header.clear_error()
        return task

    def _job_ended(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        self.header.busy_ended(job)

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    # --- what the header says ----------------------------------------------------------------------

    def show_source(self, model: str, detail: str = "", tip: str = "") -> None:
        self.header.set_source(model, detail, tip)

    def show_error(self, text: str) -> None:
        self.header.show_error(text)

    def show_info(self, text: str) -> None:
        self.header.show_info(text)

    def mark_stale(self, reason: str) -> None:
        self.stale_reason = reason
        self.header.set_stale(reason)

    def mark_fresh(self) -> None:
        self.stale_reason = ""
        self.header.set_stale(None)

    def mark_painted(self) -> None:
        self.painted += 1

    @property
    def settled(self) -> bool:
        """Nothing of the view's own is pending and its picture is of the current model and input."""
        return not self._jobs and not self.stale_reason

    # --- export --------------------------------------------------------------------------------

    def export_widget(self) -> QWidget:
        """What a PNG or SVG export of the view shows."""
        return self

    def data_exports(self) -> dict[str, Callable[[Path], None]]:
        """The view's data formats besides the picture: suffix -> writer (the writer raises UserError)."""
        return {}

    def export_name(self) -> str:
        return self.key

    def export_dialog(self, fmt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {fmt.upper()}", f"{self.export_name()}.{fmt}")
        if path:
            self.export(path)

    def export(self, path: str) -> None:
        """PNG or SVG of :meth:`export_widget`, or one of :meth:`data_exports`; said in the header."""
        p = Path(path)
        writers = {".png": lambda q: save_png(self.export_widget(), q),
                   ".svg": lambda q: save_svg(self.export_widget(), q), **self.data_exports()}
        try:
            if p.suffix not in writers:
                raise UserError(f"export to {p.suffix or 'a file without extension'} is not supported; "
                                f"use {', '.join(writers)}")
            writers[p.suffix](p)
        except ExportLater:
            return
        except (UserError, OSError) as e:
            self.show_error(str(e))
            return
        self.show_info(f"exported {p}")

    def showEvent(self, ev) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(ev)
        if self.stale_reason:
            self.mark_fresh()
            self.refresh()
