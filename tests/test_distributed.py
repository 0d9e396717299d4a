"""``torchrun --nproc-per-node 2 -m engine train``: two processes (DDP over gloo) train exactly as one process
on the same global batch and seed, rank 0 alone writes the checkpoint, and a refusal on rank 0 stops both."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint, load_training_state
from engine.distributed import World, world_from_env
from engine.errors import UserError
from engine.training import TrainConfig, Trainer

ARGS = ["--tokenizer", "char", "--layers", "2", "--heads", "2", "--d-model", "32", "--context", "32", "--batch", "8",
        "--steps", "30", "--eval-every", "10", "--seed", "7"]
TOLERANCE = 1e-4  # relative, per step: the two differ only in the order of float sums (the gradient's all-reduce)


def torchrun(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "engine", *argv], capture_output=True, text=True, timeout=300)


def test_two_processes_train_as_one_does(small_corpus, tmp_path):
    two = tmp_path / "two"
    r = torchrun("train", "--corpus", small_corpus, *ARGS, "--out", str(two), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 reports; rank 1 says nothing
    summary = json.loads(lines[0])
    torch.set_num_threads(1)
    cfg = TrainConfig(corpus=small_corpus, tokenizer="char", L=2, H=2, d=32, context=32, batch=8, steps=30,
                      eval_every=10, seed=7, out=str(tmp_path / "one"))
    one = Trainer(cfg)
    for _ in one.run():
        pass
    _, state = load_training_state(two)
    assert state["step"] == 30 and summary["steps"] == 30
    np.testing.assert_allclose(state["history"]["loss"], one.history["loss"], rtol=TOLERANCE)
    np.testing.assert_allclose(state["history"]["val_loss"], one.history["val_loss"], rtol=TOLERANCE)
    assert one.history["loss"][-1] < one.history["loss"][0] - 0.1  # it learned something: the curves are not flat
    # one checkpoint, written by rank 0, that loads and holds the same weights
    loaded = load_checkpoint(two)
    for (name, a), b in zip(loaded.model.state_dict().items(), one.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5, msg=name)
    # no other rank's folder or leftovers: each run's checkpoint and its live log (rank 0's)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "one.live", "two", "two.live"]


def test_a_refusal_on_rank_0_stops_both(small_corpus, tmp_path):
    out = tmp_path / "run"
    for _ in Trainer(TrainConfig(corpus=small_corpus, tokenizer="char", L=2, H=2, d=32, context=32, batch=8,
                                 steps=2, eval_every=0, out=str(out))).run():
        pass
    r = torchrun("train", "--corpus", small_corpus, *ARGS, "--steps", "4", "--out", str(out))  # no --resume
    assert r.returncode != 0 and "already holds a training run (step 2)" in r.stderr
    assert "could not start the run" in r.stderr  # rank 1 was told, not left waiting
    assert load_checkpoint(out).step == 2


def test_a_signal_stops_every_process_at_one_step_and_rank_0_saves(small_corpus, tmp_path):
    """Ctrl-C to torchrun reaches both processes (it passes the signal on); they agree on the step to stop at
    (engine.distributed.World.any), rank 0 saves it, and both say so."""
    import re
    import signal
    import time

    from engine.live import EVENTS, live_folder

    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                             "-m", "engine", "train", "--corpus", small_corpus, *ARGS, "--steps", "1000000",
                             "--eval-every", "0", "--autosave-every", "0", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        log = live_folder(out) / EVENTS
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if log.is_file() and log.read_text(encoding="utf-8").count('"progress"') >= 20:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    steps = re.findall(r"stopped by SIGINT; saved step (\d+)", err)
    assert len(steps) == 2 and steps[0] == steps[1], err[-3000:]  # both ranks, one step
    assert load_checkpoint(out).step == int(steps[0]) >= 20


def test_the_global_batch_must_split_over_the_processes(small_corpus, tmp_path):
    cfg = TrainConfig(corpus=small_corpus, batch=7, steps=2, out=str(tmp_path / "odd"))
    with pytest.raises(UserError, match="--batch 7 does not split over 2 processes"):
        Trainer(cfg, world=World(0, 2, 0))  # refused before any collective: no process group needed
    assert not (tmp_path / "odd").exists()


def test_the_world_from_the_environment():
    assert world_from_env({}) == World(0, 1, 0) and not World().distributed
    w = world_from_env({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"})
    assert (w.rank, w.size, w.local_rank, w.is_main) == (2, 4, 0, False) and w.shard(16) == slice(8, 12)
    for env in ({"WORLD_SIZE": "two"}, {"WORLD_SIZE": "2", "RANK": "2"}, {"WORLD_SIZE": "0"}):
        with pytest.raises(UserError):
            world_from_env(env)
    assert World().total([1.0, 2.0]) == [1.0, 2.0] and World().mean(3.0) == 3.0 and not World().any(False)
