"""The engine API the app is written against: the default model unchanged, models by name, the streaming probe,
encoders where a next token is asked, the workspace, txe models / info."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from engine.errors import UserError
from engine.inference import attention_for_text, next_token_distribution, next_token_report, score_text
from engine.model import GPT, KVCache, ModelConfig, Probe, Transformer
from engine.models import describe, list_models, open_model
from engine.workspace import Workspace
from tests.models.conftest import needs_minilm, needs_smollm2
from tests.test_cli import txe_here

DATA = Path(__file__).parent / "data"


def test_the_default_model_gives_the_outputs_it_gave_before_the_variants():
    """Reference outputs recorded with the code before issue 12 (on this machine the new code gives them bit for
    bit; other machines may round differently, hence the tolerance)."""
    ref = np.load(DATA / "default_reference.npz")
    loaded = load_checkpoint(None)
    assert loaded.config["model"].keys() == {"vocab_size", "context", "d", "H", "L", "m", "positional", "norm",
                                             "activation", "tied", "dropout", "bias"}  # an old config.json
    assert GPT is Transformer and loaded.model.has_lm_head and loaded.model.cfg.final_norm
    ids = torch.from_numpy(ref["ids"])
    with torch.no_grad():
        logits, _, trace = loaded.model(ids, probe=Probe(scores=True))
        cache = KVCache(loaded.model.cfg, 1)
        cached = torch.cat([loaded.model.forward_cached(ids[:, :5], cache, last_only=False)]
                           + [loaded.model.forward_cached(ids[:, i:i + 1], cache, last_only=False)
                              for i in range(5, ids.shape[1])], 1)
    np.testing.assert_allclose(logits.numpy(), ref["logits"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(cached.numpy(), ref["cached"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(torch.stack(trace.attention)[:, 0].numpy(), ref["attention"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(trace.scores[-1][0].numpy(), ref["scores_last"], atol=1e-5, rtol=0)
    assert open_model("default").config["name"] == "default" and open_model(None).path == DEFAULT_CHECKPOINT


def test_parameter_counts_and_shapes_cover_every_variant(random_models):
    for kind, (ours, _ref) in random_models.items():
        cfg = ours.model.cfg
        assert cfg.parameter_count() == ours.model.num_parameters(), kind
        named = dict(ours.model.named_parameters())
        for name, shape in cfg.weight_shapes().items():
            assert tuple(named[name].shape) == shape, (kind, name)
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_the_streaming_probe_hands_over_each_layer_and_keeps_none(random_models):
    ours, _ = random_models["llama-gqa"]
    text = "To be, or not to be: that is the question."
    full = attention_for_text(ours.model, ours.tokenizer, text, scores=True)
    seen = []
    streamed = attention_for_text(ours.model, ours.tokenizer, text, scores=True,
                                  on_layer=lambda layer, att, sc: seen.append((layer, att, sc)))
    assert streamed.attention is None and streamed.scores is None and streamed.tokens == full.tokens
    assert [s[0] for s in seen] == list(range(ours.model.cfg.L))
    for layer, att, sc in seen:
        assert att.shape == (4, len(full.tokens), len(full.tokens)) and att.dtype == np.float32
        np.testing.assert_array_equal(att, full.attention[layer])
        np.testing.assert_array_equal(sc, full.scores[layer])
    probe = Probe(on_layer=lambda *a: None, qkv=True)
    with torch.no_grad():
        _, _, trace = ours.model(torch.tensor([ours.tokenizer.encode(text).ids]), probe=probe)
    assert trace.attention == [] and len(trace.q) == ours.model.cfg.L


@needs_minilm
def test_an_encoder_shows_attention_but_predicts_no_next_token(minilm):
    cap = attention_for_text(minilm.model, minilm.tokenizer, "The cat sat on the mat.")
    assert cap.tokens[0] == "[CLS]" and cap.tokens[-1] == "[SEP]" and not cap.causal
    assert cap.offsets[0] == (0, 0) and cap.offsets[1] == (0, 3)
    assert cap.attention.shape == (6, 12, 9, 9) and (cap.attention[:, :, 0, -1] > 0).all()  # full, unmasked
    for ask in (lambda: next_token_distribution(minilm.model, minilm.tokenizer, "The cat"),
                lambda: score_text(minilm.model, minilm.tokenizer, "The cat"),
                lambda: next_token_report(minilm.model, minilm.tokenizer, "The cat")):
        with pytest.raises(UserError, match="minilm is an encoder \\(BERT\\): it has no next-token head"):
            ask()


@needs_smollm2
def test_smollm2_scores_and_predicts_without_a_start_token(smollm2):
    tok = smollm2.tokenizer
    assert tok.prefix_ids == [] and tok.eos_ids == [2] and tok.token_text(2) == "<|im_end|>"
    s = score_text(smollm2.model, tok, "The capital of France is Paris.")
    assert np.isnan(s.probs[0]) and all(0 < p <= 1 for p in s.probs[1:]) and s.scored == len(s.ids) - 1
    assert s.to_dict()["probs"][0] is None
    nt = next_token_distribution(smollm2.model, tok, "The capital of France is")
    assert nt.top(tok, 1)[0][0] == " Paris"
    assert s.probs[-2] == pytest.approx(nt.probs[s.ids[-2]], rel=1e-4)
    with pytest.raises(UserError, match="no start token"):
        next_token_report(smollm2.model, tok, "The capital", position=0)


@needs_smollm2
def test_models_by_name_and_the_workspace(smollm2):
    names = {m["name"]: m for m in list_models()}
    assert {"default", "smollm2", "minilm"} <= set(names)
    s = names["smollm2"]
    assert (s["architecture"], s["layers"], s["heads"], s["kv_heads"], s["context"], s["vocab_size"]) == \
        ("llama", 30, 9, 3, 8192, 49152)
    assert s["parameters"] == smollm2.model.num_parameters() and s["causal"] and s["chat"]
    assert not names["minilm"]["causal"] and not names["minilm"]["chat"] and names["minilm"]["heads"] == 12
    assert describe(s["path"])["name"] == "smollm2"  # the package's file keeps its name
    ws = Workspace()
    handle = ws.open("smollm2")
    assert handle is ws.open(s["path"]) and handle.name == "smollm2" and handle.chat
    facts = handle.describe()
    assert (facts["L"], facts["H"], facts["H_kv"], facts["architecture"]) == (30, 9, 3, "llama")
    assert not ws.open(None).chat and ws.open("default").is_default


def test_txe_models_info_and_names_from_the_command_line():
    r = txe_here("models", "--json")
    assert r.returncode == 0, r.stderr
    models = json.loads(r.stdout.splitlines()[-1])
    assert isinstance(models, list) and models[0]["name"] == "default"
    assert all({"name", "architecture", "layers", "heads", "parameters"} <= set(m) for m in models)
    r = txe_here("info", "--model", "default", "--json")
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[-1])["architecture"] == "txe-gpt"
    r = txe_here("info", "--checkpoint", "nonesuch-model")
    assert r.returncode == 2 and "default, smollm2, minilm" in r.stderr and len(r.stderr.strip().splitlines()) == 1
