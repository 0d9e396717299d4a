"""Files of other formats: GGUF files of every common type read as transformers reads them, our dequantiser
equal to gguf's, and every bad file or unsupported model one line (a UserError; exit 2 from the CLI)."""

from __future__ import annotations

import json
import shutil

import gguf
import numpy as np
import pytest
import torch

from engine.errors import UserError
from engine.models import open_model
from engine.models.gguf_file import GGUFFile, dequantize
from engine.models.registry import NAMED
from tests.models.builders import build_llama_for_gguf, write_gguf
from tests.models.conftest import needs_minilm, needs_smollm2
from tests.models.test_reference import compare
from tests.test_cli import txe_here


@pytest.fixture(scope="module")
def gguf_source(tmp_path_factory):
    return build_llama_for_gguf(tmp_path_factory.mktemp("gguf") / "source")


@pytest.mark.parametrize("qtype", ["F32", "F16", "Q8_0", "Q4_0", "Q4_1", "Q5_1"])
def test_a_gguf_file_reads_as_transformers_reads_it(qtype, gguf_source, transformers):
    path = write_gguf(gguf_source, gguf_source.parent / f"tiny-{qtype}.gguf", qtype)
    ours = open_model(path)
    ref = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, torch_dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.tensor([ours.tokenizer.encode("To be, or not to be: that is the question").ids])
    worst = compare(ours, ref, ids)
    assert max(worst.values()) < 1e-4, worst
    assert ours.model.cfg.tied and ours.config["chat_template"] and ours.tokenizer.eos_ids == [2]


@pytest.mark.parametrize("qtype", ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1"])
def test_the_fast_dequantiser_equals_gguf_bit_for_bit(qtype):
    kind = gguf.GGMLQuantizationType[qtype]
    x = np.random.default_rng(0).normal(size=(8, 256)).astype(np.float32) * 3
    raw = gguf.quants.quantize(x, kind)
    want = gguf.quants.dequantize(raw, kind)
    got = dequantize(torch.from_numpy(np.ascontiguousarray(raw).view(np.uint8).reshape(-1)), int(kind),
                     torch.empty(8, 256))
    assert torch.equal(got, torch.from_numpy(np.ascontiguousarray(want, dtype=np.float32)))


def one_line(*argv: str, want: str) -> None:
    r = txe_here(*argv)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and want in r.stderr and "Traceback" not in r.stderr, r.stderr


@needs_smollm2
def test_a_truncated_or_foreign_file(tmp_path):
    src = NAMED["smollm2"].path()
    cut = tmp_path / "cut.gguf"
    with open(src, "rb") as f:
        cut.write_bytes(f.read(5_000_000))  # the header and part of the first tensor
    with pytest.raises(UserError, match="truncated"):
        open_model(cut)
    one_line("info", "--model", str(cut), want="truncated")
    head = tmp_path / "head.gguf"
    head.write_bytes(src.read_bytes()[:600_000])  # inside the vocabulary
    with pytest.raises(UserError, match="truncated"):
        GGUFFile(head)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"PK\x03\x04" + bytes(100))
    one_line("generate", "--model", str(junk), want="not a GGUF file")


def test_gguf_files_of_other_architectures_or_with_bad_metadata(gguf_source, tmp_path):
    cases = [
        (dict(arch="gpt2"), "architecture 'gpt2' is not supported"),
        ({"llama.attention.head_count": 3}, "not divisible"),
        ({"llama.attention.head_count_kv": 3}, "cannot be shared evenly"),
        ({"llama.block_count": 3}, "lacks tensor blk.2"),
        ({"llama.embedding_length": 1 << 40}, "embedding_length"),
        ({"llama.feed_forward_length": 95}, "do not fit"),
        ({"tokenizer.ggml.tokens": None}, "tokenizer.ggml.tokens is missing"),
        ({"tokenizer.ggml.model": "bert"}, "tokenizer.ggml.model is 'bert'"),
        ({"tokenizer.ggml.merges": ["zz qq"]}, "merges do not fit"),
        ({"tokenizer.ggml.eos_token_id": 10**6}, "not a token id"),
    ]
    for i, (meta, want) in enumerate(cases):
        path = write_gguf(gguf_source, tmp_path / f"bad{i}.gguf", "F32", **meta)
        with pytest.raises(UserError, match=want):
            open_model(path)
    one_line("info", "--model", str(tmp_path / "bad0.gguf"), want="not supported")


def test_folders_that_cannot_be_opened(random_folders, tmp_path):
    t5 = tmp_path / "t5"
    shutil.copytree(random_folders["gpt2"], t5)
    raw = json.loads((t5 / "config.json").read_text())
    (t5 / "config.json").write_text(json.dumps({**raw, "model_type": "t5"}))
    one_line("info", "--model", str(t5), want="model_type t5 is not supported; this build opens Hugging Face "
                                               "folders of GPT-2, BERT and Llama-family models")
    bare = tmp_path / "bare"
    shutil.copytree(random_folders["llama"], bare)
    (bare / "tokenizer.json").unlink()
    one_line("score", "--model", str(bare), "--text", "hi", want="has no tokenizer.json")
    wrong = tmp_path / "wrong"
    shutil.copytree(random_folders["bert"], wrong)
    raw = json.loads((wrong / "config.json").read_text())
    (wrong / "config.json").write_text(json.dumps({**raw, "hidden_size": 96, "num_attention_heads": 4}))
    with pytest.raises(UserError, match="do not fit its config"):
        open_model(wrong)
    (wrong / "config.json").write_text(json.dumps({**raw, "num_attention_heads": 0}))
    with pytest.raises(UserError, match="num_attention_heads must be"):
        open_model(wrong)
    (wrong / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        open_model(wrong)
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line("info", "--model", str(empty), want="has no config.json")


@needs_minilm
def test_prompts_longer_than_the_context_and_encoders_asked_for_tokens(random_folders, tmp_path):
    long = tmp_path / "long.txt"
    long.write_text("word " * 700, encoding="utf-8")
    one_line("attention", "--model", "minilm", "--text-file", str(long), "--out", str(tmp_path / "a.npz"),
             want="the model's context is 512")
    one_line("chat", "--model", str(random_folders["qwen2"]), "word " * 700, want="context is 640")
    one_line("generate", "--model", "minilm", "--prompt", "hello", want="minilm is an encoder (BERT)")
