"""Cooperative control of long engine work, with no Qt (the pattern of Orange's TaskState).

Engine work is a plain generator that calls ``token.check()`` between units of work: the CLI iterates
it in a ``for`` loop, the GUI runs the same generator in its engine thread and calls ``pause()``,
``resume()`` and ``cancel()`` from the GUI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Cancelled(Exception):
    """Raised inside engine work when its token was cancelled."""


class CancelToken:
    """Thread-safe stop / pause / resume flags for one piece of engine work."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self.sink: Callable[[Any], None] | None = None  # where partial results go (the app's bridge)

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # wake a paused worker so it can see the cancel

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_if_paused(self, timeout: float | None = None) -> bool:
        """Block while paused; returns False if still paused after ``timeout`` seconds."""
        return self._running.wait(timeout)

    def report(self, value: Any) -> None:
        """A partial result of the work as it goes (Orange's ``set_partial_result``): a token of an answer that
        streams, say. Handed to whoever runs the work; nobody listening (the CLI) costs nothing."""
        if self.sink is not None:
            self.sink(value)

    def check(self) -> None:
        """Wait while paused, raise :class:`Cancelled` if cancelled."""
        self._running.wait()
        if self._cancel.is_set():
            raise Cancelled()
