"""The embedding commands end to end through engine.cli.main, and vector files good and bad."""

import json

import numpy as np
import pytest

from engine.cli import main
from engine.embeddings.io import load_vectors, read_word2vec, write_word2vec
from engine.embeddings.vectors import Vectors
from engine.errors import UserError


def run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def run_error(capsys, *argv: str) -> str:
    assert main([*argv, "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    return err[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_corpus):
    out = tmp_path_factory.mktemp("w2v") / "vec.txt"
    assert main(["word2vec", "--corpus", small_corpus, "--dim", "12", "--window", "2", "--epochs", "2",
                 "--min-count", "1", "--seed", "3", "--out", str(out), "--json"]) == 0
    return out


def test_word2vec_json_and_file(capsys, small_corpus, tmp_path):
    out = tmp_path / "v.txt"
    res = run_json(capsys, "word2vec", "--corpus", small_corpus, "--dim", "8", "--window", "2", "--epochs", "3",
                   "--min-count", "2", "--negative", "3", "--seed", "1", "--out", str(out))
    for key in ("vocab", "seconds", "loss_per_epoch"):
        assert key in res
    assert len(res["loss_per_epoch"]) == 3 == len(res["eval_loss_per_epoch"]) and res["seconds"] > 0
    vec = read_word2vec(out)
    assert len(vec) == res["vocab"] and vec.dim == 8 and "question" in vec
    soft = run_json(capsys, "word2vec", "--corpus", small_corpus, "--dim", "8", "--epochs", "2", "--min-count",
                    "2", "--negative", "0", "--out", str(tmp_path / "s.txt"))
    assert soft["objective"] == "full softmax" and soft["loss_per_epoch"][1] < soft["loss_per_epoch"][0]


def test_neighbours_analogy_evaluate(capsys, trained, tmp_path):
    res = run_json(capsys, "neighbours", "--vectors", str(trained), "sleep", "-k", "4")
    assert len(res["neighbours"]) == 4 and all(len(p) == 2 for p in res["neighbours"])
    assert "sleep" not in [w for w, _ in res["neighbours"]]
    res = run_json(capsys, "analogy", "--vectors", str(trained), "die", "to", "sleep", "--expect", "be")
    assert len(res["answers"]) == 5 and res["expected_rank"] >= 1
    assert not {"die", "to", "sleep"} & {w for w, _ in res["answers"]}
    sim = tmp_path / "sim.tsv"
    sim.write_text("die\tsleep\t8\nto\tbe\t2\nlord\thonour\t5\nsea\tunicorn\t1\n", encoding="utf-8")
    ana = tmp_path / "q.txt"
    ana.write_text(": s\nto die to sleep\nby a sleep to\nx y z w\n", encoding="utf-8")
    res = run_json(capsys, "evaluate-embeddings", "--vectors", str(trained), "--similarity", str(sim),
                   "--analogies", str(ana))
    assert {"spearman", "analogy_accuracy", "analogy_coverage"} <= set(res)
    assert res["analogy_coverage"] == pytest.approx(2 / 3) and 0 <= res["analogy_accuracy"] <= 1
    assert res["similarity_coverage"] == pytest.approx(0.75) and -1 <= res["spearman"] <= 1


def test_project_embeddings_csv(capsys, trained, tmp_path):
    out = tmp_path / "p.csv"
    res = run_json(capsys, "project-embeddings", "--vectors", str(trained), "--method", "pca", "--out", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "word,x,y,neighbour_disagreement" and len(lines) == res["points"] + 1


def test_checkpoint_vectors(capsys, tiny_checkpoint):
    emb = load_vectors(tiny_checkpoint, "embedding")
    unemb = load_vectors(tiny_checkpoint, "unembedding")
    assert emb.matrix.shape == unemb.matrix.shape and emb.dim == 32
    res = run_json(capsys, "neighbours", "--vectors", tiny_checkpoint, "a", "-k", "3")
    assert len(res["neighbours"]) == 3
    res = run_json(capsys, "neighbours", "--vectors", tiny_checkpoint, "--matrix", "unembedding", "e")
    assert res["neighbours"]


def test_roundtrip_and_glove_layout(tmp_path):
    vec = Vectors(["a", "b'c", "été"], np.array([[1.0, -2.5], [0.125, 3e-7], [0, 1]]))
    path = write_word2vec(vec, tmp_path / "v.txt")
    back = read_word2vec(path)
    assert back.words == vec.words
    np.testing.assert_allclose(back.matrix, vec.matrix, rtol=1e-5)
    glove = tmp_path / "g.txt"
    glove.write_text("a 1 2 3\nb 4 5 6\n", encoding="utf-8")
    assert read_word2vec(glove).matrix.shape == (2, 3)
    with pytest.raises(UserError, match="white space"):
        write_word2vec(Vectors(["a b"], np.zeros((1, 2))), tmp_path / "w.txt")


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"2 3\nab\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", "binary format"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "looks binary"),
    (b"2 3\na 1 2 3\nb 1 2\n", "line 3 has 2 numbers, expected 3"),
    (b"2 2\na 1 x\nb 1 2\n", "not a number"),
    (b"3 2\na 1 2\nb 1 2\n", "header says 3"),
    (b"a\nb\n", "no numbers"),
    (b"2 2\na 1 nan\nb 1 2\n", "NaN"),
])
def test_bad_vector_files(tmp_path, capsys, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_word2vec(path)
    assert message.split()[0] in run_error(capsys, "neighbours", "--vectors", str(path), "a")


def test_cli_bad_input(capsys, trained, tmp_path, small_corpus):
    assert "no such file" in run_error(capsys, "neighbours", "--vectors", str(tmp_path / "nope.txt"), "a")
    assert "'unicorn' is not in the vocabulary" in run_error(capsys, "neighbours", "--vectors", str(trained),
                                                             "unicorn")
    assert "not in the vocabulary" in run_error(capsys, "analogy", "--vectors", str(trained), "a", "b", "zzz")
    assert "give --similarity" in run_error(capsys, "evaluate-embeddings", "--vectors", str(trained))
    empty = tmp_path / "e.txt"
    empty.write_text("", encoding="utf-8")
    assert "is empty" in run_error(capsys, "evaluate-embeddings", "--vectors", str(trained), "--analogies",
                                   str(empty))
    assert "is empty" in run_error(capsys, "word2vec", "--corpus", str(empty), "--out", str(tmp_path / "o.txt"))
    assert "does not exist" in run_error(capsys, "word2vec", "--corpus", small_corpus, "--out",
                                         str(tmp_path / "no" / "o.txt"))
    assert "no word occurs" in run_error(capsys, "word2vec", "--corpus", small_corpus, "--min-count", "1000",
                                         "--out", str(tmp_path / "o.txt"))
    assert "not a checkpoint" in run_error(capsys, "neighbours", "--vectors", str(tmp_path), "a")


def test_positional_matrix_of_a_checkpoint(tiny_checkpoint):
    from engine.embeddings.analysis import positional_similarity
    from engine.embeddings.io import read_positional_matrix

    pos, kind = read_positional_matrix(tiny_checkpoint)
    assert kind == "learned" and pos.shape == (32, 32)
    assert positional_similarity(pos).shape == (32, 32)
