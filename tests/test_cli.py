"""``txe`` end to end: JSON contracts, the embedded default model, and bad input (one line, exit 2)."""

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from engine.cli import main


def run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def txe(*argv: str) -> subprocess.CompletedProcess:
    """``python -m engine ARGV`` in a real process: exit code, stdout and stderr as a user's shell sees them."""
    return subprocess.run([sys.executable, "-m", "engine", *argv], capture_output=True, text=True, timeout=300)


def txe_here(*argv: str) -> subprocess.CompletedProcess:
    """The same command in this process (no 4 s of start-up): for the many error cases whose message and code,
    not the process around them, are under test. The thread count a ``--threads`` flag sets is put back."""
    import torch

    out, err, threads = io.StringIO(), io.StringIO(), torch.get_num_threads()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse's usage errors
            code = int(e.code or 0)
    torch.set_num_threads(threads)
    return subprocess.CompletedProcess(["txe", *argv], code, out.getvalue(), err.getvalue())


def test_train_then_attention_then_score_then_sample(capsys, small_corpus, tmp_path):
    out = tmp_path / "run"
    res = run_json(capsys, "train", "--corpus", small_corpus, "--tokenizer", "bpe", "--vocab-size", "300",
                   "--layers", "2", "--heads", "2", "--d-model", "32", "--context", "32", "--batch", "4",
                   "--steps", "20", "--eval-every", "10", "--out", str(out))
    for key in ("steps", "first_loss", "final_loss", "val_loss", "tokens_per_s", "checkpoint"):
        assert key in res
    assert res["steps"] == 20 and res["checkpoint"] == str(out) and res["final_loss"] < res["first_loss"]

    npz = tmp_path / "att.npz"
    att = run_json(capsys, "attention", "--checkpoint", str(out), "--text", "To be, or not", "--out", str(npz))
    assert (att["layers"], att["heads"]) == (2, 2)
    data = np.load(npz)
    T = len(att["tokens"])
    assert data["attention"].shape == (2, 2, T, T) and data["attention"].dtype == np.float32
    assert list(data["tokens"]) == att["tokens"]
    upper = np.triu(np.ones((T, T), dtype=bool), 1)
    assert np.all(data["attention"][..., upper] == 0.0)
    np.testing.assert_allclose(data["attention"].sum(-1), 1.0, atol=1e-5)

    score = run_json(capsys, "score", "--checkpoint", str(out), "--text", "To be")
    assert len(score["tokens"]) == len(score["probs"])
    assert score["logprob"] == pytest.approx(sum(np.log(score["probs"])))

    sample = run_json(capsys, "sample", "--checkpoint", str(out), "--prompt", "To", "--max-new", "10", "--seed", "1")
    assert sample["text"].startswith("To")


def test_resume_from_the_cli(capsys, small_corpus, tmp_path):
    out = tmp_path / "r"
    common = ["--corpus", small_corpus, "--layers", "1", "--heads", "1", "--d-model", "16", "--context", "16",
              "--batch", "4", "--eval-every", "5", "--out", str(out)]
    run_json(capsys, "train", *common, "--steps", "5")
    res = run_json(capsys, "train", *common, "--steps", "8", "--resume")
    assert res["steps"] == 8


def test_commands_use_the_embedded_default_model(capsys, tmp_path):
    info = run_json(capsys, "info")
    assert info["model"]["L"] == 4 and info["model"]["H"] == 4 and info["tokenizer"] == "char"
    att = run_json(capsys, "attention", "--text", "To be, or not to be", "--out", str(tmp_path / "a.npz"))
    assert (att["layers"], att["heads"]) == (4, 4)
    score = run_json(capsys, "score", "--text", "To be, or not to be")
    assert score["logprob"] < 0 and len(score["probs"]) == 19


def test_json_is_the_last_stdout_line_of_a_real_process():
    r = txe("score", "--text", "Hello", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout.strip().splitlines()[-1])["tokens"] == list("Hello")


@pytest.mark.parametrize("argv, message", [
    (["score", "--checkpoint", "/nonexistent/ck", "--text", "hi"], "no checkpoint at"),
    (["attention", "--text", "hi", "--out", "x.png"], "must end in .npz"),
    (["attention", "--text", "x" * 400, "--out", "/tmp/x.npz"], "context is 256"),
    (["score", "--text", ""], "empty"),
    (["train", "--corpus", "/nonexistent.txt", "--out", "/tmp/never"], "no such file"),
    (["train", "--steps", "5", "--heads", "3", "--out", "/tmp/never"], "divisible"),
    (["sample", "--prompt", "a", "--max-new", "-1"], "from 0 to 100,000"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message):
    r = txe_here(*argv)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_binary_corpus_and_corrupt_checkpoint(tmp_path, tiny_checkpoint):
    binary = tmp_path / "img.bin"
    binary.write_bytes(bytes(range(256)) * 10)
    r = txe_here("train", "--corpus", str(binary), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "binary" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_checkpoint, bad)
    (bad / "model.safetensors").write_bytes(b"\x00" * 100)
    r = txe_here("attention", "--checkpoint", str(bad), "--text", "hi", "--out", str(tmp_path / "a.npz"))
    assert r.returncode == 2 and "corrupt" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_sample_is_generate_sample_by_a_shorter_name():
    """One code path: ``txe sample`` goes through the cached decoder of ``txe generate --method sample``."""
    common = ("--prompt", "HAMLET:", "--max-new", "300", "--seed", "7", "--temperature", "0.9", "--top-k", "20",
              "--json")
    a = txe_here("sample", *common)
    b = txe_here("generate", "--method", "sample", *common)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ja, jb = json.loads(a.stdout.strip().splitlines()[-1]), json.loads(b.stdout.strip().splitlines()[-1])
    assert ja["text"] == jb["text"] and ja["logprob"] == jb["logprob"] and len(ja["tokens"]) == 300
