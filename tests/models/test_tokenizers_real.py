"""The tokenizers of real models: the same ids as transformers' tokenizers on varied text (unicode, emoji,
white-space runs, digits, special tokens), with character offsets and readable tokens."""

from __future__ import annotations

import pytest

from engine.models.registry import NAMED
from tests.models.conftest import needs_minilm, needs_smollm2

TEXTS = [
    "Hello, world!", "The capital of France is Paris.", "  leading spaces and   runs\n\n\ttabs\r\nCRLF",
    "emoji 😀🎉 flags 🇫🇷 zwj 👩‍💻", "東京 café naïve Ünïcödé ß ﬁ Ελληνικά русский", "numbers 12345 3.14159 1,000,000",
    "don't I'll we've they're", "<|im_start|>user\nWhat?<|im_end|>\n", "    ", "a" * 300, "x\u200by\u00a0z",
    "Tabs\tand\u3000ideographic spaces", "mixed CASE Words", "",
]


def check_ids(ours, encode_hf) -> None:
    """Our ids (with the model's start and end tokens) equal transformers' on every text, and offsets are
    character spans of the text."""
    tok = ours.tokenizer
    for text in TEXTS:
        enc = tok.encode(text)
        assert tok.wrap(enc.ids) == encode_hf(text), text
        for start, end in enc.offsets:
            assert 0 <= start <= end <= len(text)


@needs_smollm2
def test_smollm2_tokenizer_equals_transformers(smollm2, smollm2_hf_tokenizer):
    check_ids(smollm2, lambda t: smollm2_hf_tokenizer(t, add_special_tokens=True).input_ids)
    tok = smollm2.tokenizer
    assert tok.kind == "byte-bpe" and tok.vocab_size == 49152 and tok.prefix_ids == [] and tok.unk_id is None
    ids = tok.encode("emoji 😀 the").ids
    shown = [tok.token_text(i) for i in ids]
    assert shown[-1] == " the" and "<0xF0>" in "".join(shown) and tok.id_to_token(ids[-1]) == "Ġthe"
    assert tok.decode(ids) == "emoji 😀 the"
    assert tok.encode("<|im_end|>").ids == [2] and tok.token_text(2) == "<|im_end|>"
    assert tok.encode("2024").ids == [tok.encode(c).ids[0] for c in "2024"]  # digits one by one (SmolLM's rule)


@needs_minilm
def test_minilm_wordpiece_equals_transformers(minilm, transformers):
    ref = transformers.BertTokenizerFast.from_pretrained(str(NAMED["minilm"].path()))
    check_ids(minilm, lambda t: ref(t).input_ids)
    tok = minilm.tokenizer
    assert tok.kind == "wordpiece" and tok.prefix_ids == [101] and tok.suffix_ids == [102]
    assert len(tok.encode("word " * 300).ids) == 300  # the file's truncation to 128 and padding are off
    enc = tok.encode("Playing football")
    assert [tok.token_text(i) for i in enc.ids][:2] == ["playing", "football"] or "##" in "".join(enc.tokens)


@pytest.mark.parametrize("kind", ["gpt2", "bert", "llama", "qwen2"])
def test_random_folders_tokenizers_equal_transformers(kind, random_folders, random_models, transformers):
    ours, _ = random_models[kind]
    ref = transformers.AutoTokenizer.from_pretrained(str(random_folders[kind]))
    check_ids(ours, lambda t: ref(t).input_ids)
    tok = ours.tokenizer
    if kind == "llama":  # SentencePiece style: <s> first, "▁" read as a space, byte fallback
        assert tok.kind == "sp-bpe" and tok.prefix_ids == [tok.bos_id]
        ids = tok.encode("the 🦄").ids  # a character the vocabulary never saw: bytes
        assert tok.token_text(ids[0]).startswith(" ") and "<0xF0>" in "".join(tok.token_text(i) for i in ids)
        assert tok.vocab_size == ours.model.cfg.vocab_size and tok.vocab_size - 3 in tok.never_generate
    if kind == "gpt2":
        assert tok.prefix_ids == [] and tok.eos_ids == [0]
