"""``txe generate`` through engine.cli.main: JSON fields, and bad input as one line and exit 2."""

import json

import pytest

from engine.cli import main


def run_json(capsys, argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_generate_greedy_and_sample(capsys, tiny_checkpoint):
    g = run_json(capsys, ["generate", "--checkpoint", tiny_checkpoint, "--prompt", "To be", "--max-new", "15"])
    assert g["method"] == "greedy" and g["text"].startswith("To be") and len(g["tokens"]) == 15
    assert isinstance(g["score"], float)
    s1 = run_json(capsys, ["generate", "--checkpoint", tiny_checkpoint, "--prompt", "To be", "--method", "sample",
                           "--temperature", "0.8", "--top-k", "10", "--top-p", "0.9", "--seed", "4", "--max-new", "15"])
    s2 = run_json(capsys, ["generate", "--checkpoint", tiny_checkpoint, "--prompt", "To be", "--method", "sample",
                           "--temperature", "0.8", "--top-k", "10", "--top-p", "0.9", "--seed", "4", "--max-new", "15"])
    assert s1["text"] == s2["text"] and s1["seed"] == 4
    one = run_json(capsys, ["generate", "--checkpoint", tiny_checkpoint, "--prompt", "To be", "--method", "sample",
                            "--top-k", "1", "--max-new", "15"])
    assert one["text"] == g["text"]


def test_generate_beam_json(capsys, tiny_checkpoint):
    r = run_json(capsys, ["generate", "--checkpoint", tiny_checkpoint, "--prompt", "HAMLET", "--method", "beam",
                          "--k", "3", "--alpha", "0.5", "--max-new", "12", "--eos", r"\n", "--early-stopping", "never"])
    assert {"text", "score", "nbest", "tree", "greedy_nodes"} <= set(r)
    assert 1 <= len(r["nbest"]) <= 3 and r["nbest"][0]["text"] == r["text"]
    assert r["score"] == r["nbest"][0]["score"]
    assert all({"text", "score"} <= set(h) for h in r["nbest"])
    for node in r["tree"]:
        assert {"id", "parent", "token", "logprob", "cum_logprob", "score", "status"} <= set(node)
    assert r["settings"]["eos"] == ["\n"]
    assert r["greedy_nodes"][0] == 0
    leaves = r["greedy"]["leaves_beam"]
    assert leaves is None or leaves["reason"] in ("pruned", "not expanded")


BAD = [["--method", "beam", "--k", "0"], ["--method", "sample", "--top-p", "0"],
       ["--method", "sample", "--top-p", "1.5"], ["--method", "sample", "--temperature", "-1"],
       ["--method", "nucleus"], ["--max-new", "-1"], ["--eos", ""], ["--method", "beam", "--n-best", "9"],
       ["--early-stopping", "sometimes"], ["--k", "two"]]


@pytest.mark.parametrize("extra", BAD)
def test_bad_input_exits_2(capsys, tiny_checkpoint, extra):
    try:
        code = main(["generate", "--checkpoint", tiny_checkpoint, "--prompt", "To", *extra])
    except SystemExit as e:  # argparse's own checks (types, choices) exit 2 too
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "generate" in err
