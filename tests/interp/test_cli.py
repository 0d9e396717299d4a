"""``txe ablate``, ``logit-lens``, ``heads``, ``compare``: the JSON keys of issue 15, readable output, and bad
input as one stderr line with exit code 2."""

from __future__ import annotations

import json
import shutil

import pytest

from engine.checkpoint import DEFAULT_CHECKPOINT
from engine.cli import main

TEXT = "To be, or not to be: that is the question"


def run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_ablate_json(capsys, one_thread):
    r = run_json(capsys, "ablate", "--checkpoint", "default", "--text", TEXT, "--heads", "0.1,2.3", "--mlp", "1")
    assert r["sites"] == ["0.1", "2.3", "mlp1"] and r["loss_after"] > r["loss_before"]
    assert len(r["per_token"]) == len(TEXT) and r["per_token"][0]["token"] == "T"
    mean = sum(t["loss_after"] for t in r["per_token"]) / len(r["per_token"])
    assert mean == pytest.approx(r["loss_after"])
    assert r["truncated"] == 0 and r["next_token"]["kl"] > 0 and len(r["next_token"]["before"]) == 10
    every = run_json(capsys, "ablate", "--text", TEXT, "--every", "--mode", "mean")
    assert len(every["effect"]) == 4 and len(every["effect"][0]) == 4
    patched = run_json(capsys, "ablate", "--text", TEXT, "--heads", "3.0", "--mode", "patch", "--source", "Hello",
                       "--last", "3")
    assert patched["patched"] == 3


def test_logit_lens_heads_and_compare_json(capsys, one_thread):
    lens = run_json(capsys, "logit-lens", "--text", "To be", "--top", "2")
    assert lens["layers"][-1] == "layer 3" and len(lens["top"]) == 5 and len(lens["top"][0]) == 6
    assert len(lens["top"][0][0]) == 2 and lens["tokens"][0] == "<|bos|>"
    heads = run_json(capsys, "heads", "--checkpoint", "default", "--batch", "2", "--segment", "20")
    assert set(heads["scores"]) == {"previous_token", "first_token", "duplicate_token", "induction"}
    assert all(len(v) == 4 and len(v[0]) == 4 for v in heads["scores"].values())
    c = run_json(capsys, "compare", "default", str(DEFAULT_CHECKPOINT), "--text", "To be")
    assert c["loss"]["diff"] == 0.0 and c["scores"]["diff"]["induction"][3][3] == 0.0


def test_readable_output(capsys, one_thread):
    assert main(["ablate", "--text", TEXT, "--heads", "1.2"]) == 0
    out = capsys.readouterr().out
    assert "loss: " in out and "->" in out and "next token after the text" in out
    assert main(["logit-lens", "--text", "To be"]) == 0
    assert "layer 3" in capsys.readouterr().out
    assert main(["ablate", "--text", "ab" * 200, "--heads", "0.0"]) == 0  # longer than the context (256)
    assert "its first 145 tokens were left out" in capsys.readouterr().out


def test_a_long_text_is_cut_to_its_last_tokens(capsys, one_thread):
    r = run_json(capsys, "ablate", "--text", "ab" * 200, "--heads", "0.0")
    assert r["truncated"] == 145 and len(r["per_token"]) == 255


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "ck"
    shutil.copytree(DEFAULT_CHECKPOINT, path)
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    return str(path)


@pytest.mark.parametrize("argv, message", [
    (["ablate", "--text", TEXT, "--heads", "9.9"], "there is no head 9.9"),
    (["ablate", "--text", TEXT, "--heads", "1.x"], "malformed head '1.x'"),
    (["ablate", "--text", TEXT, "--heads", "0.1;0.2"], "malformed head"),
    (["ablate", "--text", TEXT, "--mlp", "4"], "there is no MLP layer 4"),
    (["ablate", "--text", TEXT], "nothing to switch off"),
    (["ablate", "--text", "", "--heads", "0.0"], "the text is empty"),
    (["ablate", "--text", TEXT, "--heads", "0.0", "--mode", "patch"], "needs a source prompt"),
    (["ablate", "--text", TEXT, "--heads", "0.0", "--mode", "patch", "--source", "x"], "same length"),
    (["ablate", "--text", TEXT, "--heads", "0.0", "--source", "x"], "are for --mode patch"),
    (["ablate", "--text", TEXT, "--every", "--mode", "patch"], "zero or mean"),
    (["ablate", "--checkpoint", "/nonexistent/ck", "--text", TEXT, "--heads", "0.0"], "no checkpoint at"),
    (["logit-lens", "--text", ""], "the text is empty"),
    (["logit-lens", "--checkpoint", "/nonexistent/ck", "--text", TEXT], "no checkpoint at"),
    (["heads", "--segment", "500"], "segment must be 2 to 127"),
    (["compare", "default", "default-bpe", "--text", TEXT], "different tokenizers"),
    (["compare", "default", "/nonexistent/ck", "--text", TEXT], "no checkpoint at"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, one_thread, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("command", [["ablate", "--heads", "0.0"], ["logit-lens"], ["heads"]])
def test_a_corrupt_checkpoint_is_one_line_and_exit_2(capsys, one_thread, corrupt, command):
    argv = [command[0], "--checkpoint", corrupt, *command[1:]] + (["--text", TEXT] if command[0] != "heads" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "corrupt or truncated" in err, err
