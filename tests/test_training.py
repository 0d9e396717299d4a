import threading

import numpy as np
import pytest

from engine.checkpoint import load_checkpoint
from engine.errors import UserError
from engine.events import Evaluation, Finished, Paused, Progress, Saved, Snapshot
from engine.tasks import CancelToken
from engine.training import TrainConfig, Trainer, lr_at


def cfg_for(corpus: str, out: str = "", **kw) -> TrainConfig:
    base = dict(corpus=corpus, context=32, d=32, H=2, L=2, batch=8, steps=30, eval_every=10, eval_batches=2,
                snapshot_every=10, autosave_every=0, out=out, warmup=5)
    base.update(kw)
    return TrainConfig(**base)


def losses(events) -> list[float]:
    return [e.metrics["loss"] for e in events if isinstance(e, Progress)]


def test_events_loss_falls_and_snapshots(small_corpus):
    events = list(Trainer(cfg_for(small_corpus, steps=60, lr=3e-3)).run())
    ls = losses(events)
    assert len(ls) == 60 and np.mean(ls[-10:]) < ls[0] - 0.5
    snaps = [e for e in events if isinstance(e, Snapshot)]
    assert [s.step for s in snaps] == [1, 10, 20, 30, 40, 50, 60]
    probe = snaps[0].data
    assert probe.attention.shape == (2, 2, len(probe.tokens), len(probe.tokens)) == probe.scores.shape
    assert probe.tokens[0] == "<|bos|>" and probe.attention.dtype == np.float32
    assert np.isneginf(probe.scores[0, 0, 0, 1]) and np.isfinite(probe.scores[0, 0, 1, 0])
    evals = [e for e in events if isinstance(e, Evaluation)]
    assert [e.step for e in evals] == [10, 20, 30, 40, 50, 60]
    assert all(np.isfinite(e.metrics["val_loss"]) for e in evals)
    assert isinstance(events[-1], Finished) and events[-1].summary["steps"] == 60
    assert events[-1].summary["tokens_per_s"] > 0


def test_seeded_runs_are_reproducible(small_corpus):
    a = losses(Trainer(cfg_for(small_corpus, snapshot_every=0)).run())
    b = losses(Trainer(cfg_for(small_corpus, snapshot_every=0)).run())
    c = losses(Trainer(cfg_for(small_corpus, snapshot_every=0, seed=7)).run())
    assert a == b and a != c


def test_resume_continues_the_same_run(small_corpus, tmp_path):
    straight = losses(Trainer(cfg_for(small_corpus, steps=20, snapshot_every=0)).run())
    out = str(tmp_path / "run")
    token = CancelToken()
    first = []
    for event in Trainer(cfg_for(small_corpus, out, steps=20, snapshot_every=0)).run(token):
        if isinstance(event, Progress):
            first.append(event.metrics["loss"])
            if event.step == 10:
                token.cancel()  # a stop: the checkpoint keeps steps 1-10
    # the same run picks up at step 10 and continues exactly
    resumed_trainer = Trainer(cfg_for(small_corpus, out, steps=20, snapshot_every=0), resume=True)
    assert resumed_trainer.step == 10
    rest = losses(resumed_trainer.run())
    np.testing.assert_allclose(first + rest, straight, rtol=1e-5, atol=1e-6)
    with pytest.raises(UserError, match="cannot resume"):
        Trainer(cfg_for(small_corpus, out, steps=30, d=64), resume=True)
    with pytest.raises(UserError, match="nothing to resume"):
        Trainer(cfg_for(small_corpus, str(tmp_path / "none")), resume=True)


def test_pause_resume_and_stop_from_another_thread(small_corpus, tmp_path):
    token = CancelToken()
    out = tmp_path / "stopped"
    trainer = Trainer(cfg_for(small_corpus, str(out), steps=100000, snapshot_every=0, eval_every=0))
    seen: list = []

    def consume():
        for event in trainer.run(token):
            seen.append(event)
            if isinstance(event, Progress) and event.step == 5:
                token.pause()

    worker = threading.Thread(target=consume)
    worker.start()
    deadline = threading.Event()
    for _ in range(200):
        if any(isinstance(e, Paused) for e in seen):
            break
        deadline.wait(0.05)
    assert any(isinstance(e, Paused) for e in seen)
    steps_when_paused = trainer.step
    deadline.wait(0.3)
    assert trainer.step == steps_when_paused  # paused means no steps
    token.resume()
    deadline.wait(0.3)
    token.cancel()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert trainer.step > steps_when_paused
    final = seen[-1]
    assert isinstance(final, Finished) and final.summary["stopped"] is True
    assert isinstance(seen[-2], Saved)
    assert load_checkpoint(out).step == trainer.step  # the stop kept every finished step


def test_autosave(small_corpus, tmp_path):
    out = tmp_path / "auto"
    events = list(Trainer(cfg_for(small_corpus, str(out), steps=25, autosave_every=10, snapshot_every=0)).run())
    assert [e.step for e in events if isinstance(e, Saved)] == [10, 20, 25]


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-4, warmup=10, steps=110)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(60, cfg) == pytest.approx(5.5e-4)
    assert lr_at(110, cfg) == pytest.approx(1e-4)


def test_bad_training_settings(small_corpus, tmp_path):
    with pytest.raises(UserError, match="tokenizer"):
        Trainer(cfg_for(small_corpus, tokenizer="morse"))
    with pytest.raises(UserError, match="divisible"):
        Trainer(cfg_for(small_corpus, d=30, H=4))
    short = tmp_path / "short.txt"
    short.write_text("tiny text", encoding="utf-8")
    with pytest.raises(UserError, match="needs more than the context"):
        Trainer(cfg_for(str(short)))


def test_head_scores_at_snapshots_are_saved_and_resumed(small_corpus, tmp_path):
    import json

    out = tmp_path / "run"
    events = list(Trainer(cfg_for(small_corpus, steps=20, out=str(out))).run())
    snaps = [e.data for e in events if isinstance(e, Snapshot)]
    assert set(snaps[0].head_scores) == {"previous_token", "first_token", "duplicate_token", "induction"}
    assert all(m.shape == (2, 2) and ((m >= 0) & (m <= 1)).all() for m in snaps[-1].head_scores.values())
    saved = json.loads((out / "trainer.json").read_text())["head_scores"]
    assert saved["step"] == [1, 10, 20] and np.allclose(saved["induction"][-1], snaps[-1].head_scores["induction"],
                                                         atol=1e-5)
    resumed = Trainer(cfg_for(small_corpus, steps=30, out=str(out)), resume=True)
    list(resumed.run())
    assert json.loads((out / "trainer.json").read_text())["head_scores"]["step"] == [1, 10, 20, 30]
