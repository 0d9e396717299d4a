"""Following a run that another process trains (issue 16): ``txe train --out DIR`` in a subprocess, the app
watching DIR's live log: the loss curve, the evaluations and the probe snapshots arrive as the files grow, the
finished run's checkpoint becomes the model on offer; a folder without a log is one line; stop following."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.live import EVENTS, live_folder


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def train(corpus: str, out: Path, steps: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine", "train", "--corpus", corpus, "--layers", "2", "--heads", "2", "--d-model",
         "32", "--context", "32", "--batch", "4", "--steps", str(steps), "--eval-every", "50",
         "--snapshot-every", "50", "--autosave-every", "100", "--threads", "1", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_following_a_run_another_process_trains(window, qtbot, small_corpus, tmp_path):
    training, att = window.training, window.attention
    # a folder without a live log: one line in the Training view, nothing else changes
    assert not window.follow(str(tmp_path / "nothing"))
    assert "no live log" in training.header.error_text and "\n" not in training.header.error_text
    out = tmp_path / "run"
    proc = train(small_corpus, out, 200)
    try:
        qtbot.waitUntil(lambda: (live_folder(out) / EVENTS).is_file() or proc.poll() is not None, timeout=120_000)
        assert proc.poll() in (None, 0), proc.stderr.read()
        assert window.follow(str(out)) and not training.header.error_text
        run = window.ctx.run
        assert run.external and training.stop_btn.text() == "Stop following" and not training.pause_btn.isEnabled()
        assert not training.start_btn.isEnabled()  # not a second writer of the followed run's folder
        assert not training.use_live.isEnabled() and "Followed run" in window.side.text()
        # the form shows the followed run's settings, read-only, and the user's come back afterwards
        qtbot.waitUntil(lambda: training.d.value() == 32 and training.L.value() == 2, timeout=30_000)
        assert not training.form_box.isEnabled() and training.out.text() == str(out)
        qtbot.waitUntil(lambda: run.state == "finished" and run.ref is not None, timeout=180_000)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    # what the process wrote is what the views show
    history = json.loads((out / "trainer.json").read_text(encoding="utf-8"))["history"]
    np.testing.assert_allclose(training.loss_y, history["loss"], rtol=1e-6)
    assert list(training.steps_x) == list(range(1, 201)) and training.eval_x == [50, 100, 150, 200]
    assert [s.step for s in att.snapshots] == [1, 50, 100, 150, 200]
    assert att.snapshots[-1].head_scores is not None and "Finished" in training.summary.text()
    assert training.use_btn.isVisible() and run.ref.path == str(out)
    assert training.form_box.isEnabled() and training.d.value() == 128 and training.out.text() != str(out)
    # the finished run's checkpoint is the model on offer: Use this model
    training.use_btn.click()
    qtbot.waitUntil(lambda: window.ctx.model is not None and window.ctx.model.key == run.ref.key, timeout=30_000)


def test_stop_following_leaves_the_run_going(window, qtbot, small_corpus, tmp_path):
    training = window.training
    out = tmp_path / "long"
    proc = train(small_corpus, out, 100_000)
    try:
        qtbot.waitUntil(lambda: (live_folder(out) / EVENTS).is_file() or proc.poll() is not None, timeout=120_000)
        assert proc.poll() is None, proc.stderr.read()
        window.follow(str(out))
        qtbot.waitUntil(lambda: len(training.steps_x) > 0, timeout=60_000)
        training.stop_btn.click()
        assert "Stopped following" in training.state.text() and not window.ctx.run.active
        assert training.start_btn.isEnabled() and proc.poll() is None  # the run itself goes on
        assert training.form_box.isEnabled() and training.out.text() != str(out)
    finally:
        proc.kill()
        proc.wait(timeout=30)
