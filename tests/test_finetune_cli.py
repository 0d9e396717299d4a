"""``txe finetune``, ``txe classify`` and ``txe similarity``: JSON fields, one-line errors with exit 2."""

from __future__ import annotations

import json

import pytest

from engine.checkpoint import save_checkpoint
from engine.cli import main
from tests.finetune_helpers import easy_task, tiny_base, write_tsv


def run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return code, (json.loads(lines[-1]) if code == 0 and lines else None), err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ft")
    base = tiny_base()
    save_checkpoint(d / "base", base.model, base.tokenizer)
    write_tsv(d / "easy.tsv", easy_task(80))
    return d


def test_finetune_then_classify(capsys, files) -> None:
    code, res, err = run(capsys, "finetune", "--checkpoint", str(files / "base"), "--task", str(files / "easy.tsv"),
                         "--steps", "5", "--size", "0", "--out", str(files / "clf"), "--json", "--threads", "1")
    assert code == 0, err
    assert set(res) >= {"accuracy", "label_names", "out"} and res["label_names"] == ["a", "b"]
    assert 0 <= res["accuracy"] <= 1 and res["out"] == str(files / "clf")
    code, res, err = run(capsys, "classify", "--checkpoint", str(files / "clf"), "--text", "axax", "--json")
    assert code == 0, err
    assert res["label"] in ("a", "b") and set(res["probs"]) == {"a", "b"}
    assert [t for t, _ in res["importance"]] == list("axax")


def test_finetune_compare_fields(capsys, files) -> None:
    code, res, err = run(capsys, "finetune", "--checkpoint", str(files / "base"), "--task", str(files / "easy.tsv"),
                         "--steps", "2", "--compare", "--sizes", "10,20", "--seeds", "0", "--out",
                         str(files / "cmp"), "--json", "--threads", "1")
    assert code == 0, err
    assert res["sizes"] == [10, 20] and len(res["pretrained_accuracy"]) == len(res["scratch_accuracy"]) == 2
    assert [len(r) for r in res["pretrained_per_seed"]] == [1, 1] and len(res["scratch_per_seed"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["classify", "--checkpoint", "BASE", "--text", "ab"], "not a fine-tuned classifier"),
    (["classify", "--checkpoint", "NOWHERE", "--text", "ab"], "no fine-tuned classifier"),
    (["finetune", "--checkpoint", "BASE", "--task", "NOWHERE.tsv", "--out", "OUT"], "no such file"),
    (["finetune", "--checkpoint", "BASE", "--task", "genre", "--steps", "0", "--out", "OUT"], "--steps"),
    (["finetune", "--checkpoint", "BASE", "--task", "TSV", "--compare", "--sizes", "1,x", "--out", "OUT"], "--sizes"),
    (["finetune", "--checkpoint", "nomodel", "--task", "TSV", "--out", "OUT"], "no checkpoint"),
    (["similarity", "--model", "BASE", "hello"], "causal"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, files, argv, message) -> None:
    names = {"BASE": str(files / "base"), "NOWHERE": str(files / "nowhere"), "NOWHERE.tsv": str(files / "no.tsv"),
             "OUT": str(files / "out"), "TSV": str(files / "easy.tsv")}
    try:
        code = main([names.get(a, a) for a in argv])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err


def test_similarity_json(capsys) -> None:
    from engine.models.registry import NAMED

    if NAMED["minilm"].path() is None:
        pytest.skip("minilm is not installed")
    code, res, err = run(capsys, "similarity", "--model", "minilm", "a happy king", "a joyful monarch",
                         "--nearest", "2", "--limit", "40", "--json", "--threads", "1")
    assert code == 0, err
    assert len(res["matrix"]) == 2 and abs(res["matrix"][0][0] - 1) < 1e-4
    assert len(res["nearest"]) == 2 and len(res["nearest"][0]) == 2
