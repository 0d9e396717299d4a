"""The Arena's Search page follows a 10,000-simulation search without freezing the window (issue 18).

A 10 ms QTimer measures its own lateness while the real window's Search page runs All to 10,000 simulations
(UCT MCTS with random playouts, then PUCT with the shipped Connect Four network), drawing the snapshots the
engine sends (at most ~20 per second). Each search's speed in the window (simulations per second, from the
job's start to its end) is compared with the same search headless (SearchSession.advance, no snapshots),
side by side in one run: headless, window, headless, window, ...
Targets as for the other GUI benchmarks: timer lateness p99 <= 50 ms, max <= 250 ms.
Usage: ``QT_QPA_PLATFORM=offscreen python -m bench.gui_search [--sims 10000 --rounds 2]``;
``--screenshot docs/arena-search.png`` saves the page after a few hundred PUCT simulations instead.
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
from engine.rl.connect4 import ConnectFourState  # noqa: E402
from engine.rl.registry import make_agent  # noqa: E402
from engine.rl.search_trace import SearchSession  # noqa: E402

AGENTS = {"uct": "mcts:1", "puct": "default"}


def headless_rate(spec: str, sims: int) -> float:
    session = SearchSession(make_agent(spec, "connect4", seed=0), ConnectFourState())
    t0 = time.perf_counter()
    session.advance(sims)
    return sims / (time.perf_counter() - t0)


def open_search(app, tmpdir: str):  # noqa: ANN001, ANN201
    from app.window import MainWindow
    from packaging.screenshots import show_view, until

    win = MainWindow(None, QSettings(os.path.join(tmpdir, "bench.ini"), QSettings.Format.IniFormat))
    win.resize(1300, 850)
    win.show()
    view = show_view(app, win, "arena")
    view.tabs.setCurrentWidget(view.search)
    panel = view.search
    until(app, lambda: panel.session is not None, timeout=60)
    return win, panel


def choose(app, panel, spec: str) -> None:  # noqa: ANN001
    from packaging.screenshots import until

    panel.agent_box.setCurrentIndex(panel.agent_box.findData(spec))
    panel.reset()
    until(app, lambda: panel.session is not None and panel.snap is not None, timeout=60)


def gui_run(app, panel, spec: str, sims: int) -> tuple[list[float], float, float, int]:  # noqa: ANN001
    """Lateness of a 10 ms timer while All runs ``sims`` simulations; simulations per second in the engine thread
    (the job's own time, as headless) and from the click to the last snapshot drawn; snapshots drawn."""
    from packaging.screenshots import until

    choose(app, panel, spec)
    panel.sims.setValue(sims)
    until(app, panel.view.ctx.engine.idle, timeout=120)  # no other view's work (the start-up's) in the way
    probe = LatenessProbe()
    painted0 = panel.view.painted
    probe.start()
    t0 = time.perf_counter()
    panel.all_btn.click()
    loop, poll = QEventLoop(), QTimer()  # the app's own event loop: it sleeps in Qt until a timer or the bridge
    poll.setInterval(20)
    poll.timeout.connect(lambda: loop.quit() if panel.job is None and panel.sims_done >= sims else None)
    poll.start()
    loop.exec()
    poll.stop()
    elapsed = time.perf_counter() - t0
    probe.stop()
    n, seconds = panel.last_run
    return probe.samples, n / seconds, sims / elapsed, panel.view.painted - painted0


def screenshot(app, path: str) -> None:  # noqa: ANN001
    from packaging.screenshots import until

    with tempfile.TemporaryDirectory() as tmp:
        win, panel = open_search(app, tmp)
        play = panel.view.play
        play.game_box.set_game("connect4")
        play.side.setCurrentIndex(1)  # the human plays O: the position below waits for the human, not the agent
        state = ConnectFourState()
        for a in (3, 3, 4):
            state.apply_action(a)
        play.set_position(state)
        panel.take_btn.click()
        choose(app, panel, "default")
        for _ in range(3):
            panel.step_btn.click()
            until(app, lambda: panel.phase == 3, timeout=30)
        panel.sims.setValue(400)
        panel.all_btn.click()
        until(app, lambda: panel.job is None and panel.sims_done >= 400, timeout=120)
        root_kids = [n for n in panel.snap["nodes"] if n["depth"] == 1]
        best = max(root_kids, key=lambda n: n["n"])
        panel.pick(tuple(best["path"]))
        panel.step_btn.click()
        until(app, lambda: panel.phase == 3, timeout=30)
        app.processEvents()
        panel.grab().save(path)
        win.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--screenshot", help="save the Search page to this PNG instead of measuring")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    if args.screenshot:
        screenshot(app, args.screenshot)
        return
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        win, panel = open_search(app, tmp)
        for kind, spec in AGENTS.items():
            lat: list[float] = []
            gui, wall, headless, paints = [], [], [], []
            for _ in range(args.rounds):
                headless.append(headless_rate(spec, args.sims))
                la, rate, seen, n = gui_run(app, panel, spec, args.sims)
                lat += la
                gui.append(rate)
                wall.append(seen)
                paints.append(n)
            out[kind] = {
                "agent": spec, "sims": args.sims,
                "timer_lateness_ms": summary(lat),
                "sims_per_s": {"headless": [round(r) for r in headless], "gui": [round(r) for r in gui],
                               "gui_click_to_drawn": [round(r) for r in wall]},
                "ratio_gui_to_headless": round(float(np.median(gui) / np.median(headless)), 3),
                "snapshots_drawn": paints}
        win.close()
    print(json.dumps({"machine": describe(), "load": round(os.getloadavg()[0], 2), **out,
                      "rounds": args.rounds}, indent=1))


if __name__ == "__main__":
    main()
