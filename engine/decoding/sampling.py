"""Sampling: draw each next token instead of taking the best (the alternative to seed 001's searches).

From the model's next-token distribution, in this order (as Hugging Face applies them):

1. ``<|bos|>`` and ``<|unk|>`` are removed;
2. temperature: p_i proportional to exp(logit_i / temperature); below 1 sharpens, above 1 flattens,
   0 means the argmax (greedy);
3. top-k: keep the k most probable tokens (0 = off);
4. top-p (nucleus): keep the smallest set of most probable tokens whose probability reaches p (1 = off);
5. renormalise what is kept and draw with a seeded ``torch.Generator``: the same seed gives the same text.

Every sample's reported log-probabilities are the model's own (temperature 1, whole vocabulary), so
samples and searches are scored alike.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from engine.decoding.cache import Decoder
from engine.decoding.common import (
    Generation,
    Prompt,
    as_mask,
    prompt_tokens,
    special_mask,
)
from engine.decoding.search import decode_one_path, greedy
from engine.errors import UserError
from engine.model import GPT
from engine.tokenizers import Tokenizer


def check_sampling(temperature: float, top_k: int, top_p: float) -> None:
    if not temperature >= 0:  # also refuses NaN
        raise UserError(f"the temperature must be 0 or more (got {temperature})")
    if int(top_k) < 0:
        raise UserError(f"top-k must be 0 (off) or more (got {top_k})")
    if not 0 < top_p <= 1:
        raise UserError(f"top-p must be in (0, 1] (got {top_p})")


@dataclass
class Filtered:
    tempered: torch.Tensor  # (V,) float64 softmax(logits / temperature), specials 0
    keep_top_k: torch.Tensor  # (V,) bool
    keep_top_p: torch.Tensor  # (V,) bool: kept by top-k and then by top-p
    final: torch.Tensor  # (V,) float64, what is drawn from


def filter_distribution(logits: torch.Tensor, specials: list[int] | torch.Tensor, temperature: float = 1.0,
                        top_k: int = 0,
                        top_p: float = 1.0) -> Filtered:
    """Steps 1-4 of the module docstring for one (V,) logit vector."""
    V = logits.shape[0]
    logits = logits.double() + as_mask(specials, V)
    if temperature == 0:  # the limit of temperature -> 0: all mass on the argmax
        tempered = torch.zeros(V, dtype=torch.float64)
        tempered[int(torch.argmax(logits))] = 1.0
    else:
        tempered = torch.softmax(logits / temperature, dim=-1)
    allowed = tempered > 0
    keep_k = allowed.clone()
    if top_k and top_k < int(allowed.sum()):
        keep_k = torch.zeros(V, dtype=torch.bool)
        keep_k[torch.topk(tempered, top_k).indices] = True
    probs = torch.where(keep_k, tempered, torch.zeros_like(tempered))
    probs = probs / probs.sum()
    keep_p = keep_k
    if top_p < 1:
        sorted_p, idx = torch.sort(probs, descending=True)
        before = torch.cumsum(sorted_p, 0) - sorted_p  # mass of the more probable tokens
        keep_sorted = (before < top_p) & (sorted_p > 0)
        keep_sorted[0] = True  # always at least the most probable token
        keep_p = torch.zeros(V, dtype=torch.bool)
        keep_p[idx[keep_sorted]] = True
        probs = torch.where(keep_p, probs, torch.zeros_like(probs))
        probs = probs / probs.sum()
    return Filtered(tempered, keep_k, keep_p, probs)


@dataclass
class NextTokenPanel:
    """What the sampling panel draws for one prefix: bars before and after temperature, the cut-offs."""

    tokens: list[str]  # text of every vocabulary entry
    probs: np.ndarray  # (V,) the model's distribution (temperature 1, whole vocabulary)
    tempered: np.ndarray  # (V,) after removing the special tokens and applying the temperature
    keep_top_k: np.ndarray  # (V,) bool
    keep_top_p: np.ndarray  # (V,) bool (within top-k)
    final: np.ndarray  # (V,) the distribution sampled from
    order: np.ndarray  # (V,) token ids by tempered probability, best first (the bar order)
    temperature: float
    top_k: int
    top_p: float

    def to_dict(self, limit: int = 0) -> dict:
        ids = self.order[:limit] if limit else self.order
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p,
                "tokens": [{"id": int(i), "token": self.tokens[i], "p": float(self.probs[i]),
                            "p_tempered": float(self.tempered[i]), "top_k": bool(self.keep_top_k[i]),
                            "top_p": bool(self.keep_top_p[i]), "p_final": float(self.final[i])} for i in ids]}


@torch.inference_mode()
def next_token_panel(model: GPT, tokenizer: Tokenizer, prompt: Prompt, temperature: float = 1.0, top_k: int = 0,
                     top_p: float = 1.0, window_keep: int | None = None) -> NextTokenPanel:
    check_sampling(temperature, top_k, top_p)
    ids = prompt_tokens(tokenizer, prompt)
    logits = Decoder(model, tokenizer.prefix_ids, len(ids), window_keep, use_cache=False).prefill([ids])[0]
    f = filter_distribution(logits, special_mask(tokenizer), temperature, top_k, top_p)
    probs = torch.softmax(logits.double(), dim=-1)
    order = torch.argsort(f.tempered, descending=True, stable=True)
    return NextTokenPanel([tokenizer.token_text(i) for i in range(tokenizer.vocab_size)], probs.numpy(),
                          f.tempered.numpy(), f.keep_top_k.numpy(), f.keep_top_p.numpy(), f.final.numpy(),
                          order.numpy(), float(temperature), int(top_k), float(top_p))


@torch.inference_mode()
def sample(model: GPT, tokenizer: Tokenizer, prompt: Prompt, max_new: int, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, seed: int | None = None, eos: Iterable[int | str] | None = None,
           window_keep: int | None = None, use_cache: bool = True) -> Generation:
    """One sampled continuation; ``extra`` holds the seed (drawn at random when None, to replay it)."""
    check_sampling(temperature, top_k, top_p)
    seed = secrets.randbits(63) if seed is None else int(seed)
    gen = torch.Generator().manual_seed(seed)
    specials = special_mask(tokenizer)

    def draw(logits: torch.Tensor, _logp: torch.Tensor) -> int:
        f = filter_distribution(logits, specials, temperature, top_k, top_p)
        return int(torch.multinomial(f.final, 1, generator=gen))

    g = decode_one_path(model, tokenizer, prompt, max_new, draw, eos, window_keep, use_cache)
    g.extra["seed"] = seed
    return g


@dataclass
class Sample:
    generation: Generation
    seed: int
    leaves_greedy_at: int | None  # index of the first generated token that differs from greedy (None: never)

    def to_dict(self) -> dict:
        return {**self.generation.to_dict(), "seed": self.seed, "leaves_greedy_at": self.leaves_greedy_at}


def divergence(a: list[int], b: list[int]) -> int | None:
    """First index where two token sequences differ (one ending first counts), None if equal."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def samples(model: GPT, tokenizer: Tokenizer, prompt: Prompt, n: int, max_new: int, temperature: float = 1.0,
            top_k: int = 0, top_p: float = 1.0, seed: int = 0, eos: Iterable[int | str] | None = None,
            window_keep: int | None = None) -> tuple[Generation, list[Sample]]:
    """The greedy path and n samples with seeds seed, seed + 1, ..., each with where it leaves greedy."""
    if int(n) < 1:
        raise UserError(f"the number of samples must be at least 1 (got {n})")
    check_sampling(temperature, top_k, top_p)
    path = greedy(model, tokenizer, prompt, max_new, eos, window_keep)
    out = []
    for i in range(int(n)):
        g = sample(model, tokenizer, prompt, max_new, temperature, top_k, top_p, seed + i, eos, window_keep)
        out.append(Sample(g, seed + i, divergence(g.ids, path.ids)))
    return path, out
