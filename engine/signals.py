"""Stopping on a signal: Ctrl-C (SIGINT), SIGTERM and SIGHUP all stop the engine the same way.

Outside a training loop a signal raises :class:`Interrupted` (a ``KeyboardInterrupt``), which the CLI
turns into one line and exit code 128 + the signal's number (130 for Ctrl-C). Inside a loop that can
save, :func:`stop_on_signals` turns the first signal into a cancel of the loop's token instead: the
loop ends after the step it is in, saves, and the CLI then reports the stop; a second signal stops at
once (a checkpoint save is atomic, so the previous one is still intact).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from engine.entry import deliver_later, importing
from engine.tasks import CancelToken

SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


class Interrupted(KeyboardInterrupt):
    """A stop asked by a signal; ``signum`` says which (exit code 128 + signum)."""

    def __init__(self, signum: int = signal.SIGINT, message: str = "") -> None:
        super().__init__(message)
        self.signum = signum
        self.message = message

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


received: list[int] = []  # every signal that asked the engine to stop


def _raise(signum: int, frame: FrameType | None) -> None:
    if importing(frame):  # raised under an import, it may cross C++ and abort the process: a moment later
        deliver_later(signum)
        return
    received.append(signum)
    raise Interrupted(signum)


def install_interrupt_handlers() -> None:
    """SIGTERM and SIGHUP raise :class:`Interrupted` like Ctrl-C does (call from the main thread)."""
    for s in SIGNALS:
        try:
            signal.signal(s, _raise)
        except (ValueError, OSError):  # not the main thread, or a platform without it
            pass


class SignalStop:
    """Which signal asked the loop to stop (None while none has)."""

    def __init__(self) -> None:
        self.signum: int | None = None


@contextmanager
def stop_on_signals(token: CancelToken) -> Iterator[SignalStop]:
    """While inside, the first signal cancels ``token`` (the loop stops cleanly and saves); a second one
    raises :class:`Interrupted`. The previous handlers come back on the way out."""
    stop = SignalStop()

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if stop.signum is not None:
            raise Interrupted(signum)
        stop.signum = signum
        token.cancel()

    previous = {}
    for s in SIGNALS:
        try:
            previous[s] = signal.signal(s, handler)
        except (ValueError, OSError):
            pass
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
