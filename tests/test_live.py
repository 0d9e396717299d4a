"""A run's live log (engine.live): what txe train writes beside its checkpoint, read back line by line while it
grows, torn and foreign lines skipped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import UserError
from engine.events import Evaluation, Finished, Progress, Saved, Snapshot
from engine.live import EVENTS, LiveReader, RunStart, live_folder
from engine.training import TrainConfig, Trainer


def test_a_run_writes_what_a_reader_reads_back(small_corpus, tmp_path, one_thread):
    out = tmp_path / "run"
    cfg = TrainConfig(corpus=small_corpus, L=2, H=2, d=32, context=32, batch=4, steps=12, eval_every=5,
                      snapshot_every=5, autosave_every=6, eval_batches=2, out=str(out))
    trainer = Trainer(cfg)
    seen = list(trainer.run())
    reader = LiveReader.open(out)
    assert reader.folder == live_folder(out) == tmp_path / "run.live"
    events = reader.poll()
    assert isinstance(events[0], RunStart) and not events[0].resumed and events[0].config["steps"] == 12
    kinds = [type(e) for e in events[1:]]
    assert kinds == [type(e) for e in seen]  # every event of the run, in order
    losses = [e.metrics["loss"] for e in events if isinstance(e, Progress)]
    assert losses == pytest.approx(trainer.history["loss"])
    snaps = [e for e in events if isinstance(e, Snapshot)]
    assert [s.step for s in snaps] == [1, 5, 10]
    last = [e for e in seen if isinstance(e, Snapshot)][-1]
    np.testing.assert_allclose(snaps[-1].data.attention, last.data.attention)
    assert set(snaps[-1].data.head_scores) >= {"induction", "previous_token"}
    assert [e.step for e in events if isinstance(e, Saved)] == [6, 12] and isinstance(events[-1], Finished)
    assert [e.step for e in events if isinstance(e, Evaluation)] == [5, 10, 12]
    assert reader.poll() == []  # nothing new
    # resumed: the log goes on; a new run in the folder starts it anew
    list(Trainer(TrainConfig(**{**cfg.__dict__, "steps": 14}), resume=True).run())
    more = reader.poll()
    assert isinstance(more[0], RunStart) and more[0].resumed and more[0].step == 12
    list(Trainer(TrainConfig(**{**cfg.__dict__, "steps": 3}), overwrite=True).run())
    fresh = LiveReader.open(out).poll()
    assert isinstance(fresh[0], RunStart) and not fresh[0].resumed and fresh[-1].summary["steps"] == 3


def test_torn_foreign_and_escaping_lines(tmp_path):
    live = tmp_path / "x.live"
    live.mkdir()
    (live / "secret.npz").write_bytes(b"")
    lines = [json.dumps({"kind": "start", "config": {"steps": 9}, "resumed": False, "step": 0}), "not json",
             json.dumps([1, 2]), json.dumps({"kind": "progress", "step": "three"}),
             json.dumps({"kind": "snapshot", "step": 2, "file": "../x.live/../secret.npz"}),
             json.dumps({"kind": "progress", "step": 1, "loss": 2.5, "seconds": 0.1})]
    (live / EVENTS).write_text("\n".join(lines) + "\n" + '{"kind": "progress", "st', encoding="utf-8")
    reader = LiveReader.open(tmp_path / "x")
    events = reader.poll()
    assert [type(e) for e in events] == [RunStart, Progress] and events[1].metrics == {"loss": 2.5}
    assert events[1].total == 9
    with open(live / EVENTS, "a", encoding="utf-8") as f:  # the torn line is finished later
        f.write('ep": 2, "loss": 2.0}\n')
    assert [e.step for e in reader.poll()] == [2]
    with pytest.raises(UserError, match="no live log"):
        LiveReader.open(tmp_path / "nothing")


def test_no_live_log_when_asked(small_corpus, tmp_path):
    out = tmp_path / "run"
    list(Trainer(TrainConfig(corpus=small_corpus, L=1, H=1, d=16, context=16, batch=2, steps=2, eval_every=0,
                             out=str(out), live=False)).run())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
