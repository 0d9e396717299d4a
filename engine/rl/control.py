"""Pause / resume / cancel for training generators.

Uses the engine-wide :class:`engine.tasks.CancelToken` when that module exists, else an identical
local one, so the RL package works on its own and with the shared task machinery.
"""

from __future__ import annotations

import threading

try:  # the shared one (same interface) once merged
    from engine.tasks import Cancelled, CancelToken  # type: ignore[import-not-found]
except ModuleNotFoundError:  # pragma: no cover - depends on the build

    class Cancelled(Exception):  # type: ignore[no-redef]
        """Raised inside engine work when its token was cancelled."""

    class CancelToken:  # type: ignore[no-redef]
        """Thread-safe stop / pause / resume flags for one piece of engine work."""

        def __init__(self) -> None:
            self._cancel = threading.Event()
            self._running = threading.Event()
            self._running.set()

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
            return self._running.wait(timeout)

        def check(self) -> None:
            self._running.wait()
            if self._cancel.is_set():
                raise Cancelled()

__all__ = ["CancelToken", "Cancelled"]
