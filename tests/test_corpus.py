import re

import pytest

from engine.corpus import GENRES, load_corpus, parse_play, read_text_file
from engine.errors import UserError


@pytest.fixture(scope="module")
def shakespeare():
    return load_corpus("shakespeare")


def test_shakespeare_is_plain_text_with_plays_and_genres(shakespeare):
    text = shakespeare.text
    assert len(text) > 4_000_000
    assert len(shakespeare.plays) >= 36
    assert {g for _, g, _, _ in shakespeare.plays} <= set(GENRES)
    assert "**" not in text and "##" not in text and "\\[" not in text
    assert not re.search(r"(^|\s)_\w", text), "markdown emphasis left in the text"
    hamlet = next((s, e) for p, g, s, e in shakespeare.plays if p == "hamlet")
    assert "HAMLET:\nTo be, or not to be" in text[hamlet[0]:hamlet[1]]
    assert next(g for p, g, _, _ in shakespeare.plays if p == "hamlet") == "tragedies"


def test_speakers_and_directions_are_separate_records():
    md = ("# T\n\n## ACT I\n\n### SCENE I. A room.\n\n_Enter A and\nB_\n\n**A**  \nHello there,  \n"
          "friend.\n\n_\\[Aside]_  \nQuiet!\n\n_Exit_\n")
    recs = parse_play(md, "t", "comedies")
    kinds = [(r.kind, r.speaker, r.text) for r in recs]
    assert kinds == [
        ("heading", "", "ACT I"), ("heading", "", "SCENE I. A room."), ("direction", "", "Enter A and B"),
        ("speech", "A", "Hello there,\nfriend.\n[Aside]\nQuiet!"), ("direction", "", "Exit")]


def test_split_by_play_is_deterministic_and_disjoint(shakespeare):
    train, val = shakespeare.split(0.1, "play")
    train2, val2 = shakespeare.split(0.1, "play")
    assert (train, val) == (train2, val2)
    assert 0.05 < len(val) / len(shakespeare.text) < 0.2
    assert val[:2000] not in train


def test_genre_selection():
    tragedies = load_corpus("shakespeare:tragedies")
    assert {g for _, g, _, _ in tragedies.plays} == {"tragedies"}
    with pytest.raises(UserError, match="unknown genre"):
        load_corpus("shakespeare:westerns")


def test_block_split_of_a_plain_file(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("abcdefghij" * 10, encoding="utf-8")
    c = load_corpus(f)
    train, val = c.split(0.1)
    assert train + val == c.text and len(val) == 10


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"   \n\t\n", "only white space"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "looks binary"),
    (b"caf\xe9 latin-1", "not UTF-8"),
])
def test_bad_files_give_clear_errors(tmp_path, content, message):
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    with pytest.raises(UserError, match=message):
        load_corpus(f)


def test_missing_folder_and_huge_files(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_corpus(tmp_path / "nope.txt")
    with pytest.raises(UserError, match="is a folder"):
        load_corpus(tmp_path)
    big = tmp_path / "big.txt"
    big.write_text("x" * 5000, encoding="utf-8")
    with pytest.raises(UserError, match="the limit is"):
        read_text_file(big, max_bytes=1000)


def test_crlf_and_bom_are_normalised(tmp_path):
    f = tmp_path / "w.txt"
    f.write_bytes("\ufeffline one\r\nline two\r\n".encode())
    assert load_corpus(f).text == "line one\nline two\n"
