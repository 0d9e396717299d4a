"""How late a 10 ms QTimer fires while the window works: the GUI benchmarks' measure of a frozen window."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QElapsedTimer, QTimer

INTERVAL_MS = 10


class LatenessProbe:
    """Start it, let the window work, stop it: ``samples`` are the ticks' delays past 10 ms (ms)."""

    def __init__(self) -> None:
        self._lateness: list[float] = []
        self._clock, self._timer, self._last = QElapsedTimer(), QTimer(), 0
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = self._clock.elapsed()
        self._lateness.append(max(0.0, now - self._last - INTERVAL_MS))
        self._last = now

    def start(self) -> None:
        self._clock.start()
        self._last = 0
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @property
    def samples(self) -> list[float]:
        return self._lateness[1:]  # the first tick's delay includes the start itself


def summary(lateness: list[float]) -> dict[str, float | int]:
    """p50, p99 and max of the lateness (ms), and how many ticks they come from."""
    arr = np.array(lateness)
    return {"p50": round(float(np.percentile(arr, 50)), 2), "p99": round(float(np.percentile(arr, 99)), 2),
            "max": round(float(arr.max()), 2), "ticks": int(arr.size)}
