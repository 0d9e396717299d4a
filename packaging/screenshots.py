"""Render the README's screenshots from the real window (offscreen): every view on the default model,
the Training and Attention views during a live run, and the Vanishing gradients view after a short run.
Usage: ``python -m packaging.screenshots docs``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHOTS = [
    ("attention", "attention", "To be, or not to be: that is the question."),
    ("heads", "attention-heads", "To be, or not to be: that is the question."),
    ("tokens", "tokens", None),
    ("next-token", "next-token", "To be, or not to be: that is the qu"),
    ("decoding", "decoding", None),
    ("arena", "arena", None),
    ("embeddings", "embeddings-tokens", None),
]


def static_shots(out: Path) -> None:
    for view, name, text in SHOTS:
        cmd = [sys.executable, "-m", "app", "--screenshot", str(out / f"{name}.png"), "--view", view]
        if text:
            cmd += ["--text", text]
        subprocess.run(cmd, check=True, env=os.environ)


def live_training_shots(out: Path, steps: int = 600) -> None:
    """The Training view after ``steps`` live steps, then the Attention view following the run's snapshots."""
    with window_on("training") as (app, win, tmp):
        tv = win.training
        tv.steps.setValue(2000)
        tv.snapshot_every.setValue(25)
        tv.out.setText(os.path.join(tmp, "run"))
        tv.start_btn.click()
        until(app, lambda: len(tv.loss_y) >= steps, timeout=600)
        tv.pause_btn.click()
        wait(app, 1.0)
        win.grab().save(str(out / "training.png"))
        win.tabs.setCurrentIndex(win.view_index("attention"))
        win.attention.follow_box.setChecked(True)
        wait(app, 1.0)
        win.grab().save(str(out / "attention-live.png"))
        win.ctx.stop_run()
        until(app, lambda: not win.bridge.busy)
        win.close()


def wait(app, seconds: float) -> None:
    t0 = time.time()
    while time.time() - t0 < seconds:
        app.processEvents()
        time.sleep(0.01)


@contextmanager
def window_on(view_key: str):
    """The real window (fresh settings), offscreen at 1400 x 860, on view ``view_key`` once it has painted;
    yields (app, window, a temporary folder)."""
    from app.main import configure_torch

    configure_torch()
    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        win = MainWindow(None, QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat))
        win.resize(1400, 860)
        win.show()
        win.tabs.setCurrentIndex(win.view_index(view_key))
        if view_key == "training":  # the form has nothing to draw: ready once the model is loaded
            until(app, lambda: win.ctx.model is not None)
        else:
            until(app, lambda: win.painted[view_key] > 0)
        yield app, win, tmp


def sampling_shot(out: Path) -> None:
    """The Decoding view's sampling panel after a run with temperature, top-k and top-p."""
    with window_on("decoding") as (app, win, _tmp):
        view = win.views["decoding"]
        view.tabs.setCurrentIndex(1)
        p = view.sampling
        p.temperature.setValue(0.8)
        p.top_k.setValue(12)
        p.top_p.setValue(0.9)
        p.n.setValue(5)
        seen = win.painted["decoding"]
        p.run.click()
        while win.painted["decoding"] == seen:
            app.processEvents()
        wait(app, 0.5)
        win.grab().save(str(out / "decoding-sampling.png"))
        win.close()


def arena_shots(out: Path) -> None:
    """The Arena view: tic-tac-toe with a hint, Connect Four with the agent's values, a backgammon game in
    progress (dice, a checker picked, the agent's last move, its best turns), a short training run and the Elo
    ladder of its checkpoints."""
    from engine.rl.agents.pubeval import PubEvalAgent

    with window_on("arena") as (app, win, tmp):
        view = win.views["arena"]
        play = view.play
        play.reveal_ms = 0

        def human_to_move() -> bool:
            s = play.state
            return not play.thinking and not s.is_terminal() and s.current_player() == play.human

        def human(action: int) -> None:
            play.human_move(action)
            until(app, human_to_move)

        play.opponent.set_spec("mcts:1000")  # visits and mean values in every cell
        human(0)
        human(8)
        play.hint.setChecked(True)
        until(app, lambda: play.pane.board.overlay is not None)
        wait(app, 0.5)
        win.grab().save(str(out / "arena-tictactoe.png"))
        play.hint.setChecked(False)

        play.game_box.set_game("connect4")  # the shipped self-play agent: PUCT values and visit counts
        until(app, human_to_move)
        for col in (3, 3):
            human(col)
        play.reveal_ms = 60_000  # hold the agent's values over the board
        play.human_move(2)
        until(app, lambda: play.pane.board.overlay is not None and not play.thinking)
        wait(app, 0.5)
        win.grab().save(str(out / "arena-connect4.png"))
        play.reveal_ms = 0
        play.new_game()

        play.game_box.set_game("backgammon")
        until(app, lambda: play.state.game_name == "backgammon")
        helper = PubEvalAgent(3)
        play.rng.seed(11)
        play.new_game()
        turns = 0
        while turns < 9 or len(play.state.legal_actions()) < 6:  # well into the game, with a real choice
            until(app, lambda: human_to_move() or play.state.is_terminal())
            if play.state.is_terminal():
                play.new_game()
                continue
            human(helper.step(play.state))
            turns += 1
        play.hint.setChecked(True)
        until(app, lambda: play.pane.board.overlay is not None)
        board = play.pane.board
        board.click_target(max(board.sources()))
        wait(app, 0.5)
        win.grab().save(str(out / "arena-backgammon.png"))

        view.tabs.setCurrentWidget(view.train)
        t = view.train
        t.games.setValue(30_000)
        t.eval_every.setValue(1500)
        t.eval_games.setValue(100)
        t.out.setText(os.path.join(tmp, "ttt-q"))
        t.start()
        until(app, lambda: not t.running, timeout=300)
        until(app, lambda: "checkpoints" in t.ladder.status.text())  # the run's folder read for the ladder
        wait(app, 0.5)
        win.grab().save(str(out / "arena-training.png"))

        t.ladder.games.setValue(40)  # the run's checkpoints against random and perfect
        t.ladder.start()
        until(app, lambda: not t.ladder.running, timeout=600)
        wait(app, 0.5)
        win.grab().save(str(out / "arena-ladder.png"))
        win.close()


def gradients_shot(out: Path, steps: int = 300) -> None:
    """The Vanishing gradients view after ``steps`` steps of the four architectures on the recall task (T = 60)."""
    with window_on("gradients") as (app, win, _tmp):
        view = win.views["gradients"]
        until(app, lambda: view.settled)
        view.steps.setValue(steps)
        view.start_btn.click()
        until(app, lambda: not view.training and view.settled, timeout=1200)
        wait(app, 1.0)
        win.grab().save(str(out / "gradients.png"))
        win.close()


def until(app, condition, timeout: float = 60) -> None:
    t0 = time.time()
    while not condition():
        if time.time() - t0 > timeout:
            raise TimeoutError("the view did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def show_view(app, win, key: str, timeout: float = 600):  # noqa: ANN001
    """Switch to a view, as a user clicks its tab, and wait until it has drawn and is settled; the view."""
    view = win.views[key]
    win.tabs.setCurrentIndex(win.view_index(key))
    until(app, lambda: view.settled and view.painted > 0, timeout=timeout)
    return view


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    static_shots(out)
    sampling_shot(out)
    arena_shots(out)
    live_training_shots(out)
    gradients_shot(out)
    from packaging.embedding_shots import embedding_shots

    embedding_shots(out)
    from packaging.real_model_shots import real_model_shots

    real_model_shots(out)
    from packaging.mlm_shots import mlm_shots

    mlm_shots(out)
    from packaging.seq2seq_shots import seq2seq_shots

    seq2seq_shots(out)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
