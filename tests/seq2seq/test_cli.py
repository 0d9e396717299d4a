"""``txe seq2seq train | translate | evaluate``: JSON keys, and bad input as one line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.cli import main
from tests.seq2seq.conftest import short_pairs

TINY_FLAGS = ["--hidden", "16", "--d-model", "16", "--heads", "2", "--layers", "1", "--batch", "8"]


def run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tsv(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("tsv") / "pairs.tsv"
    pairs = short_pairs(30, seed=2)
    path.write_text("source\ttarget\n" + "".join(f"{p.src_text}\t{p.tgt_text}\n" for p in pairs), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def checkpoint(tsv, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("ck") / "tf"
    assert main(["seq2seq", "train", "--arch", "transformer", "--steps", "3", "--data", tsv, "--out", str(out),
                 *TINY_FLAGS, "--json"]) == 0
    return str(out)


def test_train_translate_evaluate(capsys, tsv, checkpoint, tmp_path):
    out = tmp_path / "att"
    res = run_json(capsys, "seq2seq", "train", "--arch", "rnn-attention", "--cell", "lstm", "--steps", "2",
                   "--data", tsv, "--out", str(out), *TINY_FLAGS)
    for key in ("arch", "cell", "steps", "seconds", "valid_exact_match", "parameters", "checkpoint", "curve"):
        assert key in res
    assert (res["arch"], res["cell"], res["steps"], res["checkpoint"]) == ("rnn-attention", "lstm", 2, str(out))

    text = short_pairs(30, seed=2)[0].src_text
    tr = run_json(capsys, "seq2seq", "translate", "--checkpoint", checkpoint, "--text", text + " zebra")
    assert isinstance(tr["translation"], str) and tr["unknown"] == ["zebra"]
    al = tr["alignment"]
    assert al["source"] == text.split() + ["zebra"] and al["target"][: len(tr["tokens"])] == tr["tokens"]
    assert al["target"][len(tr["tokens"]):] in ([], ["<eos>"])  # "<eos>" unless cut at the length limit
    assert len(al["weights"]) == len(al["target"]) and all(len(r) == len(al["source"]) for r in al["weights"])
    assert all(abs(sum(r) - 1) < 1e-3 for r in al["weights"]) and (al["layers"], al["heads"]) == (1, 2)

    bm = run_json(capsys, "seq2seq", "translate", "--checkpoint", str(out), "--text", text, "--beam", "3",
                  "--all-heads")
    assert bm["method"] == "beam" and len(bm["nbest"]) == 3 and bm["tree_nodes"] > 3
    assert bm["translation"] == bm["nbest"][0]["translation"] and "weights" in bm["alignment"]

    ev = run_json(capsys, "seq2seq", "evaluate", "--checkpoint", checkpoint, "--data", tsv)
    assert set(ev["exact_match_by_length"]) == {"3-8"} and 0 <= ev["bleu"] <= 100 and ev["sentences"] == 30


def test_rnn_without_attention_says_so(capsys, tsv, tmp_path):
    out = tmp_path / "gru"
    run_json(capsys, "seq2seq", "train", "--arch", "gru", "--steps", "1", "--data", tsv, "--out", str(out),
             *TINY_FLAGS)
    tr = run_json(capsys, "seq2seq", "translate", "--checkpoint", str(out), "--text", "the old man")
    assert tr["alignment"]["weights"] is None and "no attention" in tr["alignment"]["shown"]


@pytest.mark.parametrize("argv, message", [
    (["train", "--arch", "cnn", "--out", "OUT"], "unknown --arch"),
    (["train", "--arch", "gru", "--steps", "0", "--out", "OUT"], "--steps: must be"),
    (["train", "--arch", "gru", "--minutes", "-1", "--out", "OUT"], "--minutes: must be"),
    (["train", "--arch", "gru", "--steps", "2", "--minutes", "1", "--out", "OUT"], "not allowed with"),
    (["train", "--arch", "gru", "--cell", "lstm", "--out", "OUT"], "--cell is for"),
    (["train", "--arch", "gru", "--data", "NOWHERE.tsv", "--out", "OUT"], "no such file"),
    (["train", "--arch", "gru", "--steps", "1", "--out", "CK"], "already holds a seq2seq checkpoint"),
    (["translate", "--checkpoint", "NOWHERE", "--text", "hi"], "no seq2seq checkpoint"),
    (["translate", "--checkpoint", "CK", "--text", "dog " * 500], "reads at most"),
    (["translate", "--checkpoint", "CK", "--text", " "], "empty"),
    (["translate", "--checkpoint", "CK", "--text", "hi", "--beam", "0"], "--beam: must be"),
    (["evaluate", "--checkpoint", "CK"], "give --data"),
    (["evaluate", "--checkpoint", "CK", "--data", "BAD"], "expected 2 tab-separated columns"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, checkpoint, tmp_path, argv, message):
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\tc\n" * 20, encoding="utf-8")
    subs = {"OUT": str(tmp_path / "out"), "CK": checkpoint, "NOWHERE": str(tmp_path / "nowhere"), "BAD": str(bad)}
    argv = [subs.get(a, a.replace("NOWHERE", str(tmp_path / "nowhere"))) for a in argv]
    assert exit_code(["seq2seq", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()  # refused before any work


def exit_code(argv: list[str]) -> int:
    """main's exit code, whether it returned it or argparse raised it."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code)


def test_a_real_process_prints_one_error_line(checkpoint):
    r = subprocess.run([sys.executable, "-m", "engine", "seq2seq", "translate", "--checkpoint", checkpoint + "x",
                        "--text", "the dog"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().startswith("txe seq2seq translate: no seq2seq checkpoint") and r.stderr.count("\n") == 1
