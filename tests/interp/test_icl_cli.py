"""``txe icl train | evaluate`` and ``txe few-shot``: JSON keys, and bad input as one stderr line, exit 2."""

from __future__ import annotations

import json

import pytest

from engine.cli import main

SMALL = ["--vocab", "40", "--context", "32", "--d-model", "16", "--batch", "4", "--every", "2"]


def run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def icl_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("icl") / "run"
    assert main(["icl", "train", "--out", str(out), "--steps", "4", *SMALL, "--threads", "1", "--json"]) == 0
    return str(out)


def test_icl_train_and_evaluate_json(capsys, icl_run, one_thread):
    r = run_json(capsys, "icl", "evaluate", "--checkpoint", icl_run, "--k", "0,1,3")
    assert set(r["accuracy_by_k"]) == {"0", "1", "3"} and r["steps"] == 4 and r["target_step"] is None
    assert {"first_repeat_loss", "second_repeat_loss", "induction_max", "scores"} <= set(r)
    assert main(["icl", "evaluate", "--checkpoint", icl_run]) == 0
    assert "accuracy on the next copy" in capsys.readouterr().out


def test_few_shot_json(capsys, one_thread):
    r = run_json(capsys, "few-shot", "--model", "default", "--task", "plurals", "--k", "0,1", "--queries", "3",
                 "--details")
    t = r["tasks"]["plurals"]
    assert set(r["tasks"]) == {"plurals"} and set(t["accuracy_by_k"]) == {"0", "1"}
    assert len(t["queries"]["1"]) == 3 and len(t["example"]["1"]["from_answer"]) == 4


@pytest.mark.parametrize("argv, message", [
    (["few-shot", "--task", "nope"], "unknown few-shot task 'nope'"),
    (["few-shot", "--task", "copy", "--k", "1,x"], "give numbers of examples separated by commas"),
    (["few-shot", "--task", "copy", "--k", "0,70"], "k=70: the task copy has 70 items"),
    (["few-shot", "--task", "copy", "--queries", "71"], "--queries 71: the task copy has 70 items"),
    (["few-shot", "--model", "/nonexistent/run", "--task", "copy"], "no checkpoint at /nonexistent/run"),
    (["few-shot", "--model", "minilm", "--task", "copy"], "few-shot prompting needs a decoder"),
    (["icl", "evaluate", "--checkpoint", "default"], "was not trained on repeated segments"),
    (["icl", "evaluate", "--checkpoint", "/nonexistent/run"], "no checkpoint at /nonexistent/run"),
    (["icl", "evaluate", "--checkpoint", "ICL", "--k", "0,40"], "do not fit this model's context"),
    (["icl", "train", "--out", "ICL", "--steps", "2"], "is not empty"),
    (["icl", "train", "--out", "NEW", "--steps", "2", "--d-model", "15"], "must be divisible by the number of heads"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, icl_run, tmp_path, argv, message, one_thread):
    argv = [icl_run if a == "ICL" else str(tmp_path / "new") if a == "NEW" else a for a in argv]
    code = main(argv)
    err = capsys.readouterr().err
    if "minilm" in argv and "not installed" in err:
        pytest.skip("minilm is not installed")
    assert code == 2 and err.count("\n") == 1 and message in err, err
