"""GUI responsiveness while training at full speed with the Attention view following live snapshots.

A 10 ms QTimer measures its own lateness (p99 and max, in ms). Training throughput with the GUI
attached is compared with headless throughput of the same recipe, in the same process, in interleaved
phases (headless, GUI, headless, GUI, ...), each with torch capped to the app's thread count.
Usage: ``QT_QPA_PLATFORM=offscreen python -m bench.gui_responsiveness [--phase-seconds 15 --phases 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.main import configure_torch  # noqa: E402

configure_torch()  # torch first, then Qt

import numpy as np  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.lateness import LatenessProbe, summary  # noqa: E402
from bench.machine import describe  # noqa: E402
from engine.events import Progress  # noqa: E402
from engine.training import TrainConfig, Trainer  # noqa: E402

RECIPE = dict(steps=1_000_000, eval_every=500, autosave_every=0, out="", snapshot_every=25)


def headless_rate(seconds: float) -> float:
    trainer = Trainer(TrainConfig(**RECIPE))
    n, t0 = 0, None
    for ev in trainer.run():
        if isinstance(ev, Progress):
            if t0 is None:  # first step allocates; start the clock after it
                t0 = time.perf_counter()
                continue
            n += 1
            if time.perf_counter() - t0 >= seconds:
                break
    return n * 12 * 64 / (time.perf_counter() - t0)


def gui_phase(app: QApplication, seconds: float, tmpdir: str) -> tuple[list[float], float, int]:
    from app.window import MainWindow

    win = MainWindow(None, QSettings(os.path.join(tmpdir, "bench.ini"), QSettings.Format.IniFormat))
    win.resize(1300, 850)
    win.show()
    while win.painted["attention"] == 0:
        app.processEvents()
    probe = LatenessProbe()
    steps: list[tuple[float, int]] = []
    win.ctx.runProgress.connect(lambda evs: steps.append((time.perf_counter(), evs[-1].step)))
    cfg = TrainConfig(**RECIPE)
    win.ctx.start_run(cfg)
    while len(steps) < 2:  # wait until the run has started (corpus + tokenizer set-up)
        app.processEvents()
    probe.start()
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        app.processEvents()
        time.sleep(0.001)
    probe.stop()
    snapshots = len(win.attention.snapshots)
    win.ctx.stop_run()
    while win.bridge.busy:
        app.processEvents()
    win.close()
    (t0, s0), (t1, s1) = steps[1], steps[-1]
    return probe.samples, (s1 - s0) * 12 * 64 / (t1 - t0), snapshots


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phase-seconds", type=float, default=15.0)
    ap.add_argument("--phases", type=int, default=2)
    args = ap.parse_args()
    import tempfile

    app = QApplication.instance() or QApplication([])
    lat: list[float] = []
    gui_rates, headless_rates, snaps = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.phases):
            headless_rates.append(headless_rate(args.phase_seconds))
            la, rate, n = gui_phase(app, args.phase_seconds, tmp)
            lat += la
            gui_rates.append(rate)
            snaps += n
    print(json.dumps({
        "machine": describe(),
        "timer_lateness_ms": summary(lat),
        "tokens_per_s": {"headless": round(float(np.median(headless_rates))),
                         "gui": round(float(np.median(gui_rates)))},
        "ratio_gui_to_headless": round(float(np.median(gui_rates) / np.median(headless_rates)), 3),
        "snapshots_received": snaps, "phase_seconds": args.phase_seconds, "phases": args.phases,
    }, indent=1))


if __name__ == "__main__":
    main()
