"""Corpora of any size: plain files are read in pieces, tokenizers trained on the pieces, ids kept in a
memory-mapped token file, with the same tokenizers, ids and losses as the in-memory path (issue 11)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import engine.corpus as corpus_module
from engine.corpus import TextFile, read_text_file
from engine.errors import UserError
from engine.tokenfile import token_file
from engine.tokenizers import Tokenizer
from tests.conftest import SMALL_TEXT

AWKWARD = ("\ufeffHAMLET:\r\nTo be,\r\n\r\n  or not\rto be:  that is\n\n\tthe question.\u2028"
           "Ay, th\u00e9re's the rub\n") * 40


@pytest.fixture
def tiny_reads(monkeypatch):
    """Read 7 bytes at a time, so every boundary case (CR LF, UTF-8 sequences) falls between reads."""
    monkeypatch.setattr(corpus_module, "READ_BYTES", 7)


@pytest.mark.parametrize("text", [SMALL_TEXT, AWKWARD, "one line without a break"])
def test_pieces_are_the_text_read_text_file_gives(tmp_path, tiny_reads, text):
    path = tmp_path / "c.txt"
    path.write_bytes(text.encode("utf-8"))
    whole = read_text_file(path)
    f = TextFile.open(path)
    assert f.chars == len(whole) and "".join(f.pieces()) == whole
    cut = f.split_point(0.1)
    assert cut == int(len(whole) * 0.9)
    assert "".join(f.pieces(0, cut)) == whole[:cut] and "".join(f.pieces(cut)) == whole[cut:]
    for piece in list(f.pieces())[:-1]:  # every cut is a line break before a non-space character
        assert piece.endswith("\n")


def test_a_huge_line_is_cut_between_words(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "MAX_PIECE_CHARS", 1000)
    path = tmp_path / "c.txt"
    path.write_text("lorem ipsum dolor " * 500, encoding="utf-8")
    pieces = list(TextFile.open(path).pieces())
    assert len(pieces) > 5 and max(map(len, pieces)) < 2000 and "".join(pieces) == "lorem ipsum dolor " * 500
    assert all(p.endswith(("lorem", "ipsum", "dolor")) for p in pieces[:-1])


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"), (b"ab\x00cd" * 10, "looks binary"), (b"   \n\t\n", "only white space"),
    (b"good text\n" * 100 + b"\xff\xfe bad", "not UTF-8 text (bad byte at offset 1000)"),
])
def test_bad_files_are_refused_when_streamed_too(tmp_path, tiny_reads, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TextFile.open(path)


@pytest.mark.parametrize("kind, vocab_size", [("char", 0), ("char", 20), ("word", 0), ("word", 40), ("bpe", 300)])
def test_tokenizers_and_ids_from_pieces_match_the_whole_text(tmp_path, monkeypatch, kind, vocab_size):
    monkeypatch.setattr(corpus_module, "READ_BYTES", 333)
    path = tmp_path / "c.txt"
    path.write_text(SMALL_TEXT + AWKWARD, encoding="utf-8")
    whole = read_text_file(path)
    f = TextFile.open(path)
    cut = f.split_point(0.1)
    reference = Tokenizer.train(kind, [whole[:cut]], vocab_size)
    streamed = Tokenizer.train(kind, f.pieces(0, cut), vocab_size)
    assert streamed.hf.to_str() == reference.hf.to_str()
    tokens = token_file(f, streamed, cut)
    assert tokens.train.dtype == np.uint16 and isinstance(tokens.train, np.memmap)
    np.testing.assert_array_equal(tokens.train, reference.encode_ids(whole[:cut]))
    np.testing.assert_array_equal(tokens.val, reference.encode_ids(whole[cut:]))


def test_the_token_file_is_cached_and_renewed_when_the_corpus_changes(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text(SMALL_TEXT, encoding="utf-8")
    f = TextFile.open(path)
    tok = Tokenizer.train("char", f.pieces())
    first = token_file(f, tok, f.split_point(0.1))
    again = token_file(TextFile.open(path), tok, f.split_point(0.1))
    assert again.path == first.path
    path.write_text(SMALL_TEXT + "More.\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))
    changed = token_file(TextFile.open(path), tok, f.split_point(0.1))
    assert changed.path != first.path
    assert [p.name for p in first.path.parent.iterdir() if p.name.startswith(".")] == []


def test_peak_memory_does_not_grow_with_the_corpus(tmp_path):
    """A 20 MB corpus trains in about the memory of a tiny one (the old path needed 14x the file: 280 MB)."""
    small, big = tmp_path / "small.txt", tmp_path / "big.txt"
    small.write_text(SMALL_TEXT, encoding="utf-8")
    with open(big, "w", encoding="utf-8") as f:
        for i in range(20 * 10**6 // len(SMALL_TEXT)):
            f.write(SMALL_TEXT.replace("HAMLET", f"HAMLET {i % 97}"))

    def peak_mb(corpus) -> float:
        cmd = [sys.executable, "-m", "engine", "train", "--corpus", str(corpus), "--steps", "2", "--layers", "1",
               "--heads", "1", "--d-model", "16", "--context", "16", "--eval-every", "0", "--threads", "1",
               "--out", str(tmp_path / f"run-{corpus.stem}")]
        with open(tmp_path / "err", "w+") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            assert proc.returncode == 0, err.read()
        return usage.ru_maxrss / 1024

    base, grown = peak_mb(small), peak_mb(big)
    assert grown - base < 100, (base, grown)
