"""engine.gradients (the recall task, the gradient by distance, training with live snapshots, the gates of one
sequence) and ``txe gradients`` (its JSON, bad flags: one line, exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.cli import main
from engine.errors import UserError
from engine.gradients import (
    ARCHS,
    RecallTask,
    build_models,
    check_settings,
    gates_over_time,
    gradient_norms,
    parse_archs,
    train_recall,
)
from engine.tasks import Cancelled, CancelToken

pytestmark = pytest.mark.usefixtures("one_thread")  # small models: the CLI's default for this command too


def test_the_recall_task_asks_for_the_first_token():
    task = RecallTask(12)
    x, y = task.batch(200, torch.Generator().manual_seed(0))
    assert x.shape == (200, 12) and y.shape == (200,)
    assert torch.equal(y, x[:, 0])
    assert int(x[:, 0].max()) < task.symbols <= int(x[:, 1:].min()) and int(x.max()) < task.vocab
    assert len(set(y.tolist())) == task.symbols and task.chance == 1 / task.symbols
    for bad in (1, 501, 2.5, True):
        with pytest.raises(UserError):
            RecallTask(bad)


def test_every_model_reads_the_whole_sequence_at_the_last_step():
    task = RecallTask(10)
    x, _ = task.batch(4, torch.Generator().manual_seed(1))
    changed = x.clone()
    changed[:, 0] = (changed[:, 0] + 1) % task.symbols
    for arch, model in build_models(ARCHS, task, 0).items():
        with torch.no_grad():
            a, b = model.logits(x), model.logits(changed)
        assert a.shape == (4, task.symbols), arch
        assert not torch.allclose(a, b), arch  # the first token reaches the output


def test_gradient_norms_are_per_sequence_and_indexed_by_distance():
    task = RecallTask(8)
    model = build_models(("gru",), task, 0)["gru"].double()
    x, y = task.batch(3, torch.Generator().manual_seed(2))
    norms = gradient_norms(model, x, y)
    assert norms.shape == (8,) and norms.dtype == np.float64
    expected = np.zeros(8)
    for b in range(3):  # each sequence's own loss, its own embedding, then the mean; position T-1-t at t
        e = model.embed(x[b:b + 1]).detach().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(e), y[b:b + 1]), e)
        expected += g[0].norm(dim=-1).flip(0).numpy() / 3
    np.testing.assert_allclose(norms, expected, rtol=1e-10)


def test_the_plain_rnns_gradient_vanishes_and_the_gated_ones_and_attention_do_not():
    task = RecallTask(40)
    x, y = task.batch(16, torch.Generator().manual_seed(3))
    g = {arch: gradient_norms(m, x, y) for arch, m in build_models(ARCHS, task, 0).items()}
    assert all(np.all(v > 0) for v in g.values())  # float64: no underflow to zero
    assert g["rnn"][35] < 1e-6 * g["rnn"][0]  # geometric decay
    assert g["lstm"][35] > 100 * g["rnn"][35] and g["gru"][35] > 100 * g["rnn"][35]
    assert g["transformer"][35] > 1e3 * g["rnn"][35] and g["transformer"][35] > 0.1 * g["transformer"][1]


def test_training_reports_snapshots_live_and_learns_a_short_recall():
    token = CancelToken()
    seen = []
    token.sink = seen.append
    run = train_recall(("gru", "transformer"), 5, steps=60, seed=0, batch=32, every=20, token=token)
    assert [s.step for s in seen] == [0, 20, 40, 60] and run.snapshots == seen
    first, last = run.first, run.last
    assert first.distance == list(range(5)) and set(last.grad_norm) == {"gru", "transformer"}
    assert last.loss["gru"] < first.loss["gru"] and last.accuracy["transformer"] > 0.5
    assert set(last.gates) == {"gru"} and last.gates["gru"].values["z"].shape == (5, 64)
    d = last.to_dict()
    assert set(d) == {"step", "loss", "accuracy", "grad_norm"} and len(d["grad_norm"]["gru"]) == 5
    json.dumps(d)


def test_stop_keeps_the_run_and_cancel_raises():
    calls = []
    run = train_recall(("rnn",), 4, steps=1000, every=100, should_stop=lambda: calls.append(1) or len(calls) > 7)
    assert run.stopped and run.last.step == 7 and [s.step for s in run.snapshots] == [0, 7]
    token = CancelToken()
    token.sink = lambda snap: token.cancel()
    with pytest.raises(Cancelled):
        train_recall(("rnn",), 4, steps=1000, token=token)


def test_gates_of_one_sequence_time_by_units():
    task = RecallTask(9)
    models = build_models(("gru", "lstm", "rnn"), task, 0)
    tokens = task.batch(1, torch.Generator().manual_seed(4))[0][0]
    for arch, names in (("gru", {"z", "r"}), ("lstm", {"i", "f", "o"})):
        gates = gates_over_time(models[arch], tokens)
        assert set(gates.values) == names and gates.tokens == tokens.tolist()
        for name, v in gates.values.items():
            assert v.shape == (9, 64) and np.all((v > 0) & (v < 1))
            np.testing.assert_allclose(gates.means[name], v.mean(axis=1), rtol=1e-6)
    # the short cuts start open: the LSTM's forget gate is well above the plain sigma(0) = 0.5 on average
    assert gates_over_time(models["lstm"], tokens).means["f"].mean() > 0.7
    with pytest.raises(UserError, match="no gates"):
        gates_over_time(models["rnn"], tokens)


def test_settings_are_checked_before_anything_is_built(monkeypatch):
    assert parse_archs(" RNN, lstm ") == ("rnn", "lstm")
    for bad in ("", "rnn,cnn", "rnn,rnn"):
        with pytest.raises(UserError):
            parse_archs(bad)
    with pytest.raises(UserError, match="steps"):
        check_settings(("rnn",), 10, -1, 8)
    monkeypatch.setattr("engine.validate.memory_budget", lambda: 100_000)
    with pytest.raises(UserError, match="memory"):
        check_settings(("transformer",), 500, 1, 8)


def run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_json(capsys):
    res = run_json(capsys, "gradients", "--arch", "rnn,lstm", "--length", "12")
    assert res["distance"] == list(range(12)) and set(res["grad_norm"]) == {"rnn", "lstm"}
    assert all(len(v) == 12 for v in res["grad_norm"].values()) and res["steps"] == 0
    assert res["grad_norm"]["rnn"][11] < res["grad_norm"]["lstm"][11]
    assert "grad_norm_at_init" not in res and set(res["accuracy"]) == {"rnn", "lstm"}
    trained = run_json(capsys, "gradients", "--arch", "gru", "--length", "6", "--steps", "5", "--seed", "3")
    assert trained["steps"] == 5 and trained["seed"] == 3 and len(trained["grad_norm_at_init"]["gru"]) == 6
    assert main(["gradients", "--arch", "transformer", "--length", "3"]) == 0
    assert "grad_norm: {'transformer'" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--arch", "rnn,cnn", "--length", "10"], "unknown architecture 'cnn'"),
    (["--arch", "rnn,rnn", "--length", "10"], "each architecture once"),
    (["--arch", ",", "--length", "10"], "at least one architecture"),
    (["--length", "1"], "--length: must be from 2 to 500"),
    (["--length", "501"], "--length: must be from 2 to 500"),
    (["--length", "ten"], "--length: must be a whole number"),
    (["--arch", "rnn"], "required: --length"),
    (["--length", "10", "--steps", "-1"], "--steps"),
    (["--length", "10", "--batch", "0"], "--batch"),
    (["--length", "10", "--seed", "-3"], "--seed"),
])
def test_cli_bad_flags_are_one_line_and_exit_2(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(["gradients", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
