"""Decoding real models: the key/value cache (rotary positions, grouped-query attention) equals recomputing
everything, SmolLM2's greedy answer to a chat prompt equals transformers' greedy generate token for token, and
the chat API streams what it generates."""

from __future__ import annotations

import math

import pytest
import torch

from engine.chat import chat, chat_ids, chat_prompt, chat_stream
from engine.decoding import Decoder, beam_search, greedy
from engine.errors import UserError
from engine.model import KVCache
from engine.tasks import Cancelled, CancelToken
from tests.models.conftest import needs_smollm2

QUESTION = [{"role": "user", "content": "Tell me about the Moon in two sentences."}]


def check_cache(loaded, prompt: list[int], steps: int, batch: int = 1) -> float:
    """Feed the same (greedy) tokens to a cached and an uncached decoder; the largest logit difference."""
    model = loaded.model
    cached = Decoder(model, loaded.tokenizer.prefix_ids, len(prompt), use_cache=True)
    plain = Decoder(model, loaded.tokenizer.prefix_ids, len(prompt), use_cache=False)
    a, b = cached.prefill([prompt] * batch), plain.prefill([prompt] * batch)
    worst = (a - b).abs().max().item()
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        toks = a.argmax(-1)
        parents = torch.randint(0, batch, (batch,), generator=gen) if batch > 1 else None
        a, b = cached.step(toks, parents), plain.step(toks, parents)
        worst = max(worst, (a - b).abs().max().item())
    return worst


@needs_smollm2
def test_smollm2_cached_decoding_equals_recompute(smollm2, one_thread):
    prompt = smollm2.tokenizer.encode("The Moon is").ids  # short: every uncached step recomputes it all
    assert check_cache(smollm2, prompt, 8) < 1e-4
    assert check_cache(smollm2, prompt, 4, batch=3) < 1e-4  # rows reordered as beam search does
    g_cached = greedy(smollm2.model, smollm2.tokenizer, prompt, 8)
    g_plain = greedy(smollm2.model, smollm2.tokenizer, prompt, 8, use_cache=False)
    assert g_cached.ids == g_plain.ids and g_cached.logprobs == pytest.approx(g_plain.logprobs, abs=1e-4)
    b_cached = beam_search(smollm2.model, smollm2.tokenizer, prompt, k=3, max_new=4)
    b_plain = beam_search(smollm2.model, smollm2.tokenizer, prompt, k=3, max_new=4, use_cache=False)
    assert [h.ids for h in b_cached.nbest] == [h.ids for h in b_plain.nbest]
    assert [h.score for h in b_cached.nbest] == pytest.approx([h.score for h in b_plain.nbest], abs=1e-4)


@pytest.mark.parametrize("kind", ["llama-gqa", "qwen2", "gpt2"])
def test_random_models_cached_decoding_equals_recompute(kind, random_models, one_thread):
    ours, _ = random_models[kind]
    prompt = ours.tokenizer.encode("To be, or not to be").ids
    assert check_cache(ours, prompt, 40) < 1e-4
    assert check_cache(ours, prompt, 10, batch=4) < 1e-4
    b_cached = beam_search(ours.model, ours.tokenizer, prompt, k=4, max_new=8)
    b_plain = beam_search(ours.model, ours.tokenizer, prompt, k=4, max_new=8, use_cache=False)
    assert [h.ids for h in b_cached.nbest] == [h.ids for h in b_plain.nbest]


def test_the_cache_grows_and_keeps_only_the_key_value_heads(random_models):
    ours, _ = random_models["llama-gqa"]
    model, cfg = ours.model, ours.model.cfg
    x = torch.randint(3, 300, (2, 300))
    cache = KVCache(cfg, 2, capacity=1)
    assert cache.kv.shape == (cfg.L, 2, 2, cfg.kv_heads, 256, cfg.d_k)  # H_kv = 2 of the 4 heads
    with torch.no_grad():
        full, _, _ = model(x)
        parts = [model.forward_cached(x[:, :250], cache, last_only=False)]
        parts += [model.forward_cached(x[:, i:i + 1], cache, last_only=False) for i in range(250, 300)]
    assert cache.capacity == 512
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-4, rtol=0)


@needs_smollm2
def test_greedy_chat_answer_equals_transformers_generate(smollm2, smollm2_hf, one_thread):
    ids = chat_ids(smollm2, QUESTION)
    ours = [t.token_id for t in chat_stream(smollm2, QUESTION, max_new=20)]
    with torch.no_grad():
        out = smollm2_hf.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                  max_new_tokens=20, do_sample=False, pad_token_id=2)
    theirs = out[0, len(ids):].tolist()
    assert len(ours) == 20 and ours == theirs[:20]


@needs_smollm2
def test_chat_prompt_stream_and_stop(smollm2, smollm2_hf_tokenizer, one_thread):
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Capital of France?"}]
    text = chat_prompt(smollm2, messages)
    assert text == smollm2_hf_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    answer, tokens = chat(smollm2, [{"role": "user", "content": "What is the capital of France?"}], max_new=40)
    assert "Paris" in answer and len(tokens) < 40  # it ended its turn: <|im_end|> is not part of the answer
    assert "".join(t.text for t in tokens) == answer and all(0 < t.prob <= 1 for t in tokens)
    assert tokens[0].logprob == pytest.approx(math.log(tokens[0].prob), abs=1e-12)
    sampled = [t.token_id for t in chat_stream(smollm2, QUESTION, max_new=8, temperature=0.8, top_p=0.9, seed=5)]
    again = [t.token_id for t in chat_stream(smollm2, QUESTION, max_new=8, temperature=0.8, top_p=0.9, seed=5)]
    assert sampled == again
    token = CancelToken()
    stream = chat_stream(smollm2, QUESTION, max_new=50, token=token)
    next(stream)
    token.cancel()
    with pytest.raises(Cancelled):
        next(stream)


@needs_smollm2
def test_chat_refusals(smollm2, random_models):
    with pytest.raises(UserError, match="context is 8,192"):
        next(chat_stream(smollm2, [{"role": "user", "content": "word " * 9000}]))
    with pytest.raises(UserError, match="role"):
        chat_prompt(smollm2, [{"role": "wizard", "content": "hi"}])
    gpt2, _ = random_models["gpt2"]
    with pytest.raises(UserError, match="no chat template"):
        chat_prompt(gpt2, QUESTION)
    bert, _ = random_models["bert"]
    bert.config["chat_template"] = "{{ messages[0]['content'] }}"
    with pytest.raises(UserError, match="encoder"):
        next(chat_stream(bert, QUESTION))
    bert.config["chat_template"] = None
