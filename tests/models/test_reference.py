"""Our transformer against Hugging Face transformers (float32, eager attention): logits, every layer's hidden
states and every layer's attention agree within 1e-4, on SmolLM2 (the same GGUF file opened by both), MiniLM,
and small random GPT-2, BERT, Llama (multi-head and grouped-query) and Qwen2 models saved by transformers;
on a padded batch of two lengths and on 512 tokens."""

from __future__ import annotations

import pytest
import torch

from engine.model import Probe
from tests.conftest import SMALL_TEXT
from tests.models.conftest import needs_minilm, needs_smollm2

TOL = 1e-4
TEXTS = ["The quick brown fox jumps over the lazy dog, and then it rests under the old oak tree.",
         "Hello, world! 😀 Ünïcödé"]


def padded(loaded, texts: list[str], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Token ids (B, T) of ``texts`` as the model reads them (its start and end tokens around), padded on
    the right, the attention mask, and each row's length."""
    rows = [loaded.tokenizer.wrap(loaded.tokenizer.encode(t).ids) for t in texts]
    T = max(map(len, rows))
    ids = torch.tensor([r + [pad] * (T - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows])
    return ids, mask, [len(r) for r in rows]


def long_ids(loaded, n: int = 512) -> torch.Tensor:
    tok = loaded.tokenizer
    room = n - len(tok.prefix_ids) - len(tok.suffix_ids)
    return torch.tensor([tok.wrap(tok.encode(SMALL_TEXT * 4).ids[:room])])


def compare(ours, ref, ids: torch.Tensor, mask: torch.Tensor | None = None, lengths: list[int] | None = None,
            final_norm: bool = True) -> dict[str, float]:
    """Largest differences of logits (or, for an encoder, its last hidden states), hidden states and attention
    over the real tokens of each row."""
    with torch.no_grad():
        got, _, trace = ours.model(ids, probe=Probe(residual=True), attention_mask=mask)
        want = ref(input_ids=ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
    lengths = lengths or [ids.shape[1]] * ids.shape[0]
    L = ours.model.cfg.L
    mine = list(trace.residual)
    if final_norm:  # transformers' last hidden state is after the final norm
        mine[L] = ours.model.ln_f(mine[L])
    worst = {"logits": 0.0, "hidden": 0.0, "attention": 0.0}
    logits = want.logits if hasattr(want, "logits") else want.last_hidden_state
    assert len(want.hidden_states) == L + 1 and len(want.attentions) == L == len(trace.attention)
    for b, n in enumerate(lengths):
        worst["logits"] = max(worst["logits"], (got[b, :n] - logits[b, :n]).abs().max().item())
        for a, h in zip(mine, want.hidden_states, strict=True):
            worst["hidden"] = max(worst["hidden"], (a[b, :n] - h[b, :n]).abs().max().item())
        for a, h in zip(trace.attention, want.attentions, strict=True):
            assert a.shape[1] == h.shape[1] == ours.model.cfg.H  # per query head, also grouped-query
            worst["attention"] = max(worst["attention"], (a[b, :, :n, :n] - h[b, :, :n, :n]).abs().max().item())
    return worst


@needs_smollm2
def test_smollm2_matches_transformers_on_a_padded_batch_and_512_tokens(smollm2, smollm2_hf):
    ids, mask, lengths = padded(smollm2, TEXTS, pad=2)
    worst = compare(smollm2, smollm2_hf, ids, mask, lengths)
    assert max(worst.values()) < TOL, worst
    ids = long_ids(smollm2)
    assert ids.shape == (1, 512)
    worst = compare(smollm2, smollm2_hf, ids)
    assert max(worst.values()) < TOL, worst


@needs_minilm
def test_minilm_matches_transformers_on_a_padded_batch_and_512_tokens(minilm, minilm_hf):
    ids, mask, lengths = padded(minilm, TEXTS)
    assert ids[0, 0] == 101 and ids[0, lengths[0] - 1] == 102  # [CLS] ... [SEP]
    worst = compare(minilm, minilm_hf, ids, mask, lengths, final_norm=False)
    assert max(worst.values()) < TOL, worst
    ids = long_ids(minilm)
    assert ids.shape == (1, 512)
    worst = compare(minilm, minilm_hf, ids, final_norm=False)
    assert max(worst.values()) < TOL, worst
    # sentence embeddings (all-MiniLM-L6-v2's use): the mean of the last hidden states, L2-normalised
    ids, mask, _ = padded(minilm, ["A man is eating food.", "A man eats something.", "The sky is blue today."])
    with torch.no_grad():
        h, _, _ = minilm.model(ids, attention_mask=mask)
    e = torch.nn.functional.normalize((h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True), dim=-1)
    assert (e[0] @ e[1]).item() > (e[0] @ e[2]).item() + 0.3


@pytest.mark.parametrize("kind", ["gpt2", "bert", "llama", "llama-gqa", "qwen2"])
def test_random_models_match_transformers(kind, random_models):
    ours, ref = random_models[kind]
    pad = ours.tokenizer.pad_id or 0
    ids, mask, lengths = padded(ours, TEXTS, pad=pad)
    worst = compare(ours, ref, ids, mask, lengths, final_norm=kind != "bert")
    assert max(worst.values()) < TOL, worst
    ids = long_ids(ours)
    worst = compare(ours, ref, ids, final_norm=kind != "bert")
    assert max(worst.values()) < TOL, worst


def test_grouped_query_models_keep_fewer_key_value_heads(random_models, smollm2):
    ours, ref = random_models["llama-gqa"]
    cfg = ours.model.cfg
    assert (cfg.H, cfg.kv_heads) == (4, 2) and ref.config.num_key_value_heads == 2
    assert ours.model.blocks[0].attn.W_qkv.weight.shape == ((4 + 2 * 2) * cfg.d_k, cfg.d)
    assert (smollm2.model.cfg.H, smollm2.model.cfg.kv_heads, smollm2.model.cfg.L) == (9, 3, 30)
    ids = torch.tensor([smollm2.tokenizer.encode("grouped heads").ids])
    with torch.no_grad():
        _, _, trace = smollm2.model(ids, probe=Probe(qkv=True, scores=True))
    q, k, v = trace.q[0], trace.k[0], trace.v[0]
    assert q.shape == k.shape == v.shape == (1, 9, ids.shape[1], 64)
    assert torch.equal(k[:, 0], k[:, 2]) and not torch.equal(k[:, 2], k[:, 3])  # heads 0-2 share key head 0
    assert trace.scores[0].shape == (1, 9, ids.shape[1], ids.shape[1])
    assert torch.isneginf(trace.scores[0][0, :, 0, 1:]).all()
