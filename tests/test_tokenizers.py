import json

import pytest

from engine.errors import UserError
from engine.tokenizers import BOS, UNK, Tokenizer
from tests.conftest import SMALL_TEXT

SAMPLE = "To be, or not to be: that is the question:\nWhether 'tis nobler in the mind"


@pytest.mark.parametrize("kind, vocab", [("char", 0), ("word", 0), ("bpe", 300)])
def test_round_trip_spans_and_save(kind, vocab, tmp_path):
    tok = Tokenizer.train(kind, [SMALL_TEXT], vocab)
    assert tok.id_to_token(tok.bos_id) == BOS and tok.id_to_token(tok.unk_id) == UNK
    enc = tok.encode(SAMPLE)
    assert tok.decode(enc.ids) == SAMPLE
    assert list(tok.encode_ids(SAMPLE)) == enc.ids
    # every token knows its character span, and the spans tile the text
    pieces = [SAMPLE[s:e] for s, e in enc.offsets]
    assert "".join(pieces) == SAMPLE
    assert all(tok.token_text(i) == p for i, p in zip(enc.ids, pieces, strict=True))
    tok.save(tmp_path / "tokenizer.json")
    again = Tokenizer.load(tmp_path / "tokenizer.json")
    assert again.kind == kind and again.encode(SAMPLE).ids == enc.ids


def test_kinds_split_differently():
    counts = {k: len(Tokenizer.train(k, [SMALL_TEXT], 300 if k == "bpe" else 0).encode(SAMPLE).ids)
              for k in ("char", "word", "bpe")}
    assert counts["char"] == len(SAMPLE)
    assert counts["word"] < counts["bpe"] < counts["char"]


def test_unknown_characters_and_words_map_to_unk():
    char = Tokenizer.train("char", [SMALL_TEXT])
    enc = char.encode("To be 東京")
    assert enc.ids[-2:] == [char.unk_id, char.unk_id]
    assert char.unknown_count("To be 東京") == 2
    assert char.encode_ids("be 東")[-1] == char.unk_id
    word = Tokenizer.train("word", [SMALL_TEXT])
    assert word.unknown_count("To be zebra") == 1
    bpe = Tokenizer.train("bpe", [SMALL_TEXT], 300)
    assert bpe.unknown_count("東京 zebra") == 0 and bpe.decode(bpe.encode("東京 zebra").ids) == "東京 zebra"


def test_bpe_respects_vocab_size():
    assert Tokenizer.train("bpe", [SMALL_TEXT], 300).vocab_size <= 300


def test_corrupt_tokenizer_file(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="not a valid tokenizer"):
        Tokenizer.load(bad)
    bad.write_text(json.dumps({"version": "1.0", "model": {"type": "Nope"}}), encoding="utf-8")
    with pytest.raises(UserError, match="not a valid tokenizer"):
        Tokenizer.load(bad)
    with pytest.raises(UserError, match="unknown tokenizer"):
        Tokenizer.train("morse", [SMALL_TEXT])
