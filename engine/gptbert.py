"""GPT against BERT at one position of one sentence: the two self-supervised objectives of seed 001.

1. Autoregressive (GPT): p(x_i | x_1, ..., x_{i-1}): a causal model reads only what comes before.
2. Masking (BERT, Figure 11.5): p(x_i | x_1, ..., x_{i-1}, x_{i+1}, ..., x_n): x_i is replaced by [MASK]
   and a bidirectional model reads both sides.

:func:`compare_at` asks both at the same position of a sentence (a blank the user left as [MASK], or a word
they picked) and keeps every layer's attention of both, so the triangle of the one and the square of the other
can be seen side by side. Both models must share a tokenizer (the shipped pair: default-bpe and default-mlm),
so that "the same position" is the same token for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.errors import UserError
from engine.mlm import masked_ids, require_masked
from engine.model import Probe


@dataclass
class Side:
    """What one model says at the position, and where its heads looked."""

    name: str
    top: list[tuple[str, float]]  # the most probable tokens at the position, with their probabilities
    p_true: float | None  # the probability of the sentence's own token there (None at a blank)
    tokens: list[str]  # the input it read, as the attention's axes (its start token first)
    attention: np.ndarray  # (L, H, T, T) float32: alpha of every layer and head (Eq. 11.13)


@dataclass
class GptVsBert:
    tokens: list[str]  # the sentence's tokens, other blanks filled with the masked model's best guess
    position: int  # index into tokens
    true_token: str | None  # the token at the position, None when it is a blank
    causal: Side
    masked: Side

    def to_json(self) -> dict[str, Any]:
        def side(s: Side) -> dict[str, Any]:
            return {"model": s.name, "top": [[t, p] for t, p in s.top], "p_true": s.p_true, "tokens": s.tokens}

        return {"tokens": self.tokens, "position": self.position, "true_token": self.true_token,
                "causal": side(self.causal), "masked": side(self.masked)}


def _name(loaded: Any) -> str:
    config = getattr(loaded, "config", None) or {}
    return str(config.get("name") or config.get("title") or "the model")


def _check_pair(causal: Any, masked: Any) -> int:
    """The [MASK] id, once both models are of the right kind and share one tokenizer (else one line)."""
    from engine.inference import require_decoder

    require_decoder(causal.model)
    mask_id = require_masked(masked.model, masked.tokenizer)
    a, b = causal.tokenizer, masked.tokenizer
    if a.vocab_size != b.vocab_size or a.hf.get_vocab(with_added_tokens=True) != b.hf.get_vocab(with_added_tokens=True):
        raise UserError(f"{_name(causal)} and {_name(masked)} have different tokenizers, so a position is not the "
                        "same token for both; compare models trained with one tokenizer (default-bpe and "
                        "default-mlm)")
    return mask_id


def _probs_and_attention(model: torch.nn.Module, ids: list[int], at: int) -> tuple[torch.Tensor, np.ndarray]:
    """softmax of the logits at position ``at`` (V,) and every layer's attention (L, H, T, T)."""
    with torch.no_grad():
        logits, _, trace = model(torch.tensor([ids]), probe=Probe())
    probs = torch.softmax(logits[0, at].double(), dim=-1)
    attention = torch.stack([a[0] for a in trace.attention]).float().numpy()  # (L, H, T, T)
    return probs, attention


def _top(probs: torch.Tensor, tokenizer: Any, k: int) -> list[tuple[str, float]]:
    p = probs.clone()
    p[[i for i in tokenizer.special_ids if i < len(p)]] = 0.0  # [MASK], <|bos|> ...: never an answer
    values, ids = torch.topk(p, min(k, len(p)))
    return [(tokenizer.token_text(int(i)), float(v)) for v, i in zip(values, ids, strict=True)]


def compare_at(causal: Any, masked: Any, text: str, position: int | None = None, top: int = 10) -> GptVsBert:
    """Both models at ``position`` of ``text`` (an index into its tokens; by default its first [MASK], else
    its middle token). ``causal`` and ``masked`` are loaded models (engine.checkpoint.LoadedModel or a
    workspace handle) with one tokenizer. Other blanks are filled first with the masked model's best guess,
    so that both read a whole sentence."""
    mask_id = _check_pair(causal, masked)
    tok = masked.tokenizer
    ids = masked_ids(tok, text, mask_id)  # a space before [MASK] belongs to the blank, as in fill_mask
    if not ids:
        raise UserError("type a sentence to compare the two models on")
    blanks = [i for i, t in enumerate(ids) if t == mask_id]
    if position is None:
        position = blanks[0] if blanks else len(ids) // 2
    if not 0 <= position < len(ids):
        raise UserError(f"position {position} is outside the sentence's {len(ids)} tokens")
    for loaded in (causal, masked):
        n = len(loaded.tokenizer.wrap(ids))
        if n > loaded.model.cfg.context:
            raise UserError(f"the sentence is {n} tokens with its start and end; {_name(loaded)}'s context is "
                            f"{loaded.model.cfg.context}")
    pre = len(tok.prefix_ids)
    others = [i for i in blanks if i != position]
    if others:  # the masked model's own best guess for every other blank, all at once
        probs_all = _masked_logits(masked.model, tok.wrap(ids))
        for i in others:
            p = probs_all[pre + i].clone()
            p[[s for s in tok.special_ids if s < len(p)]] = -math.inf
            ids[i] = int(torch.argmax(p))
    true_id = None if ids[position] == mask_id else ids[position]

    bert_ids = list(ids)
    bert_ids[position] = mask_id
    m_probs, m_att = _probs_and_attention(masked.model, tok.wrap(bert_ids), pre + position)
    m_top = _top(m_probs, tok, top)
    sentence = list(ids)
    if true_id is None:  # the causal model's picture needs a token there: the masked model's best guess
        sentence[position] = _best(m_probs, tok)
    c_pre = len(causal.tokenizer.prefix_ids)
    if c_pre + position - 1 < 0:
        raise UserError(f"{_name(causal)} has no start token, so nothing predicts the first token")
    c_input = causal.tokenizer.prefix_ids + sentence  # the whole sentence: row i of a causal head sees only j <= i
    c_probs, c_att = _probs_and_attention(causal.model, c_input, c_pre + position - 1)
    c_top = _top(c_probs, causal.tokenizer, top)

    def label(i: int) -> str:
        return tok.token_text(i)

    return GptVsBert(
        tokens=[label(i) for i in sentence], position=position, true_token=None if true_id is None else label(true_id),
        causal=Side(_name(causal), c_top, None if true_id is None else float(c_probs[true_id]),
                    [label(i) for i in c_input], c_att),
        masked=Side(_name(masked), m_top, None if true_id is None else float(m_probs[true_id]),
                    [label(i) for i in tok.wrap(bert_ids)], m_att))


def _masked_logits(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        logits, _, _ = model(torch.tensor([ids]))
    return logits[0].double()  # (T, V)


def _best(probs: torch.Tensor, tokenizer: Any) -> int:
    p = probs.clone()
    p[[i for i in tokenizer.special_ids if i < len(p)]] = -1.0
    return int(torch.argmax(p))
