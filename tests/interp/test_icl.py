"""engine.interp.icl: the repeated-segment task, a few training steps, the checkpoint and its evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import UserError
from engine.events import Evaluation, Finished, Progress
from engine.interp.icl import (
    IclConfig,
    accuracy_by_copies,
    evaluate_icl,
    repeat_batch,
    save_icl,
    symbol_pool,
    symbol_tokenizer,
    train_icl,
)
from engine.models import open_model
from engine.tasks import CancelToken

SMALL = dict(vocab=40, context=32, n_min=3, n_max=7, d=16, batch=8, steps=6, every=3)


def test_repeat_batch_repeats_the_segment():
    cfg = IclConfig(**SMALL)
    tok = symbol_tokenizer(cfg.vocab)
    pool = symbol_pool(tok)
    assert len(pool) == 40 and tok.bos_id not in pool
    b = repeat_batch(cfg, pool, tok.bos_id, 16, np.random.default_rng(1))
    assert b.x.shape == b.y.shape == b.first.shape == (16, 32) and (b.x[:, 0] == tok.bos_id).all()
    assert (b.x[:, 1:] == b.y[:, :-1]).all()  # y is x shifted by one
    for row in range(16):
        first, second = b.y[row][b.first[row]], b.y[row][b.second[row]]
        assert len(first) == len(second) >= 2 and torch.equal(first, second)
        assert len(set(first.tolist())) == len(first)  # no symbol twice in a segment
    again = repeat_batch(cfg, pool, tok.bos_id, 16, np.random.default_rng(1))
    assert torch.equal(again.x, b.x)
    four = repeat_batch(cfg, pool, tok.bos_id, 4, np.random.default_rng(2), n=5, copies=4)
    assert four.second.sum(1).tolist() == [4] * 4 and four.first.sum(1).tolist() == [4] * 4


def run(cfg: IclConfig, token: CancelToken | None = None) -> list:
    return list(train_icl(cfg, token))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    events = run(IclConfig(**SMALL))
    out = tmp_path_factory.mktemp("icl") / "run"
    save_icl(events[-1].result, out)
    return events, out


def test_training_yields_points_and_is_seeded(trained, one_thread):
    events, _ = trained
    steps = [e.step for e in events if isinstance(e, Progress)]
    points = [e.metrics for e in events if isinstance(e, Evaluation)]
    assert steps == list(range(1, 7)) and [p["step"] for p in points] == [1, 3, 6]
    p = points[-1]
    assert np.array(p["scores"]["induction"]).shape == (2, 2) and 0 <= p["induction_max"] <= 1
    assert p["first_repeat_loss"] == pytest.approx(np.log(40), abs=0.5)  # random: about ln V
    assert isinstance(events[-1], Finished) and events[-1].result.target_step is None
    again = run(IclConfig(**SMALL))
    assert [e.metrics["loss"] for e in again if isinstance(e, Progress)] == [
        e.metrics["loss"] for e in events if isinstance(e, Progress)]


def test_cancel_stops_with_the_result(one_thread):
    token = CancelToken()
    events = []
    for e in train_icl(IclConfig(**{**SMALL, "steps": 1000}), token):
        events.append(e)
        if isinstance(e, Progress) and e.step == 2:
            token.cancel()
    assert events[-1].stopped and events[-1].result.steps == 2


def test_checkpoint_opens_and_evaluates(trained, one_thread):
    _, out = trained
    loaded = open_model(str(out))
    assert loaded.config["icl"]["history"][-1]["step"] == 6 and loaded.model.cfg.L == 2
    r = evaluate_icl(loaded, [0, 1, 2])
    assert set(r["accuracy_by_k"]) == {"0", "1", "2"} and all(0 <= a <= 1 for a in r["accuracy_by_k"].values())
    assert r["segment_for_k"] == 7 and r["meets_target"] is False and r["target_step"] is None
    assert len(r["scores"]["previous_token"]) == 2
    with pytest.raises(UserError, match="do not fit this model's context"):
        accuracy_by_copies(loaded.model, loaded.tokenizer, IclConfig(**SMALL), [0, 20])


def test_bad_settings():
    with pytest.raises(UserError, match="n_max"):
        IclConfig(context=16, n_max=10).validate()
    with pytest.raises(UserError, match="vocabulary of at least"):
        IclConfig(vocab=8, n_max=10, n_min=2).validate()


def test_default_model_is_attention_only_and_losses_skip_each_copys_first_token():
    cfg = IclConfig()
    cfg.validate()
    mcfg = cfg.model_config(cfg.vocab + 2)
    assert (mcfg.mlp, mcfg.L, mcfg.H, cfg.copies) == ("none", 2, 2, 2)
    tok = symbol_tokenizer(8)
    small = IclConfig(vocab=8, context=16, n_min=3, n_max=5)
    b = repeat_batch(small, symbol_pool(tok), tok.bos_id, 32, np.random.default_rng(0), n=5)
    for row in range(32):
        first, second = b.first[row].nonzero().flatten(), b.second[row].nonzero().flatten()
        # targets y[t] = x[t + 1]: tokens 2..5 of each copy; the second copy starts n after the first
        assert len(first) == 4 and (second == first + 5).all()
        start = int(first[0])  # y[start - 1] is the copy's first token, left out of both means
        assert torch.equal(b.y[row, start - 1: start + 4], b.y[row, start + 4: start + 9])
        assert b.x[row, start] == b.y[row, start - 1]
