"""Render docs/arena-replay.png: a Connect Four game reviewed on the Arena's Replay page, a blunder selected.
Usage: ``python -m packaging.replay_shot docs``."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def replay_shot(out: Path, seed: int = 3) -> None:
    from engine.rl.registry import make_agent
    from engine.rl.replay import play_record
    from packaging.screenshots import until, wait, window_on

    names = ("alphabeta:4", "default:200sims")
    record = play_record("connect4", tuple(make_agent(n, "connect4", seed) for n in names), names, seed=seed)
    with window_on("arena") as (app, win, tmp):
        view = win.views["arena"]
        view.tabs.setCurrentWidget(view.replay)
        panel = view.replay
        os.makedirs(os.path.join(tmp, "games"))
        path = os.path.join(tmp, "games", "connect4-game.json")
        record.save(path)
        panel.open_file(path)
        until(app, lambda: not panel.analysing, timeout=300)
        blunders = [r.ply for r in panel.reviews if r.blunder]
        panel.go((blunders[1] if len(blunders) > 1 else blunders[0]) - 1)
        wait(app, 0.5)
        win.grab().save(str(out / "arena-replay.png"))
        win.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        replay_shot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
