"""The Train page's strength ladder on the real window: a finished run's folder, Ladder, and the Elo plot
filled with its checkpoints and the reference opponents' lines."""

from __future__ import annotations

import json

from engine.rl.train import train


def test_ladder_of_a_finished_run_fills_the_elo_plot(window, qtbot, tmp_path):
    run = tmp_path / "ttt-q"
    list(train("tictactoe", "q", games=1500, out=run, eval_every=500, eval_games=2, seed=0))
    view = window.views["arena"]
    window.tabs.setCurrentIndex(window.view_index("arena"))
    qtbot.waitUntil(lambda: window.painted["arena"] > 0, timeout=20_000)
    view.tabs.setCurrentWidget(view.train)
    box, plot = view.train.ladder, view.train.elo_plot
    box.set_run(run)  # as a user picks a finished run's folder: its logged scores are drawn
    qtbot.waitUntil(lambda: view.train.scores.points() == 3 * 2, timeout=10_000)  # 3 evaluations x 2 references
    assert box.status.text() == "a Tic-tac-toe run, 3 checkpoints" and plot.points() == 0
    box.games.setValue(6)
    box.start_btn.click()
    assert box.running and not view.train.start_btn.isEnabled()  # one engine task at a time
    qtbot.waitUntil(lambda: not box.running, timeout=30_000)
    assert not window.last_error, window.last_error
    assert plot.points() == 3 and list(plot.xs) == [500, 1000, 1500]  # one point per checkpoint
    assert sorted(plot.references()) == ["perfect", "random"]
    rows = {r["player"]: r for r in plot.data["players"]}
    assert rows["random"]["elo"] == 0 and rows["perfect"]["elo"] > max(plot.ys)
    assert all(r["elo_lo"] <= r["elo"] <= r["elo_hi"] for r in rows.values())
    assert "done" in box.status.text() and view.train.start_btn.isEnabled()
    saved = json.loads((run / "ladder.json").read_text())
    assert saved["games_played"] == 10 * 6  # 5 players: 10 pairs
    box.set_run(tmp_path)  # a folder without a ladder: the plot empties ...
    qtbot.waitUntil(lambda: plot.points() == 0, timeout=10_000)
    box.set_run(run)  # ... and the saved one comes back
    qtbot.waitUntil(lambda: plot.points() == 3, timeout=10_000)
    box.set_run(tmp_path)
    box.start_btn.click()  # no checkpoints there: an error, and the page is usable again
    qtbot.waitUntil(lambda: not box.running, timeout=10_000)
    assert "no checkpoints" in window.last_error and box.start_btn.isEnabled()
