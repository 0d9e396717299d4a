"""GUI responsiveness while the RLHF training view runs PPO (issue 17: "the window stays responsive during
RLHF training", with the responsiveness targets of training: timer lateness p99 < 50 ms, max < 250 ms, and
the work's speed with the GUI at least 0.85 of headless).

A 10 ms QTimer measures its own lateness while the RLHF training view runs PPO on the default model against
a reward model (trained first, headless, on pairs of the "short" judge made from corpus lines: its quality
does not matter here). PPO iterations per second with the window are compared with the same PPO headless, in
interleaved phases, each with torch capped to the app's thread count.
Usage: ``QT_QPA_PLATFORM=offscreen python -m bench.gui_rlhf [--phase-seconds 60 --phases 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.main import configure_torch  # noqa: E402

configure_torch()  # torch first, then Qt

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.lateness import LatenessProbe, summary  # noqa: E402
from bench.machine import describe  # noqa: E402
from engine.checkpoint import load_checkpoint  # noqa: E402
from engine.events import Finished, Progress  # noqa: E402
from engine.rlhf.judges import make_judge  # noqa: E402
from engine.rlhf.prefs import Pair  # noqa: E402
from engine.rlhf.reward import train_reward_model  # noqa: E402
from engine.rlhf.rollout import verse_prompts  # noqa: E402
from engine.rlhf.train import RlhfConfig, RlhfTrainer  # noqa: E402


def reward_model(start):  # noqa: ANN001, ANN201
    judge, prompts = make_judge("short"), verse_prompts(which="train")
    lines = [p.split("\n")[1] + "\n" for p in prompts[200:600]]
    pairs = []
    for prompt, a, b in zip(prompts[:200], lines[::2], lines[1::2], strict=False):
        good, bad = (a, b) if judge.prefer(prompt, a, b) >= 0 else (b, a)
        pairs.append(Pair(prompt, good, bad, False, "judge:short"))
    return [e.result for e in train_reward_model(start, pairs, steps=30, batch=16) if isinstance(e, Finished)][0]


def headless_rate(start, rm, seconds: float) -> float:  # noqa: ANN001
    """PPO iterations per second, the first one (it reads the prompts) not counted."""
    n, t0 = 0, None
    for ev in RlhfTrainer(start, RlhfConfig(steps=1_000_000, every=10), rm).run():
        if isinstance(ev, Progress):
            if t0 is None:
                t0 = time.perf_counter()
                continue
            n += 1
            if time.perf_counter() - t0 >= seconds:
                break
    return n / (time.perf_counter() - t0)


def gui_phase(app: QApplication, rm, seconds: float, tmpdir: str) -> tuple[list[float], float, int]:  # noqa: ANN001
    from app.views.rlhf.session import session_of
    from app.window import MainWindow
    from packaging.screenshots import show_view, until

    win = MainWindow(None, QSettings(os.path.join(tmpdir, "bench.ini"), QSettings.Format.IniFormat))
    win.resize(1300, 850)
    win.show()
    view = show_view(app, win, "rlhf")
    until(app, lambda: win.ctx.model is not None)
    session_of(win.ctx).set_reward(rm, win.ctx.model, rm.heldout_accuracy)
    view.parent_folder = tmpdir
    view.steps.setValue(1_000_000)
    probe = LatenessProbe()
    steps: list[tuple[float, int]] = []  # (when the view showed it, the step its progress bar shows)
    view.start_btn.click()
    until(app, lambda: view.task is not None and view.progress.value() >= 1, timeout=120)  # prompts read

    def look() -> None:
        if not steps or view.progress.value() != steps[-1][1]:
            steps.append((time.perf_counter(), view.progress.value()))

    watcher = QTimer()
    watcher.setInterval(50)
    watcher.timeout.connect(look)
    loop = QEventLoop()  # the app's own event loop: it sleeps in Qt until a timer or the bridge wakes it
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    probe.start()
    watcher.start()
    loop.exec()
    probe.stop()
    watcher.stop()
    painted = view.painted
    view.stop_btn.click()
    until(app, lambda: view.task is None, timeout=300)
    win.close()
    (t0, s0), (t1, s1) = steps[0], steps[-1]
    return probe.samples, (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0, painted


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--phase-seconds", type=float, default=60.0)
    ap.add_argument("--phases", type=int, default=2)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    start = load_checkpoint(None)
    rm = reward_model(start)
    lat: list[float] = []
    gui, headless, paints = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.phases):
            headless.append(headless_rate(start, rm, args.phase_seconds))
            la, rate, n = gui_phase(app, rm, args.phase_seconds, tmp)
            lat += la
            gui.append(rate)
            paints += n
    print(json.dumps({
        "machine": describe(), "load": round(os.getloadavg()[0], 2),
        "timer_lateness_ms": summary(lat),
        "ppo_iterations_per_s": {"headless": [round(r, 3) for r in headless], "gui": [round(r, 3) for r in gui]},
        "ratio_gui_to_headless": round(float(np.median(gui) / np.median(headless)), 3),
        "view_paints": paints, "phase_seconds": args.phase_seconds, "phases": args.phases,
    }, indent=1))


if __name__ == "__main__":
    main()
