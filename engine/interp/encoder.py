"""Ablation and patching on an encoder (BERT, all-MiniLM-L6-v2, our masked model), which predicts no next
token: what a head does is measured on what the encoder outputs.

- The sentence embedding: the mean of the final hidden states over the text's tokens ([CLS] and [SEP]
  included), scaled to unit length (sentence-transformers' recipe, engine.similarity). Its change is
  1 - cos(e_clean, e_ablated): 0 when the head does not matter to the embedding, up to 2.
- Each token's output vector h_t (seed 003: an encoder "outputs a continuous representation (embedding)
  of the input text"): 1 - cos(h_t clean, h_t ablated) at every position.

Heads are switched off as for a decoder (engine.interp.ablation: z^(h) of Eq. 11.13 replaced by zero, its
mean, or the value from another prompt). A text longer than the context keeps its first tokens, as
sentence-transformers cuts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import UserError
from engine.interp.ablation import MODES, Site, check_sites, each_head_off, replacements, setters
from engine.interp.hooks import hooks
from engine.interp.text import TextInput
from engine.model import GPT
from engine.tasks import CancelToken
from engine.tokenizers import Tokenizer


def is_encoder(model: GPT) -> bool:
    """True for a model measured here: bidirectional (BERT) or without an unembedding."""
    return not model.cfg.causal or not model.has_lm_head


def encoder_input(model: GPT, tokenizer: Tokenizer, text: str) -> TextInput:
    """[CLS] + the text's first tokens + [SEP], at most the context; ``truncated`` counts the tokens cut."""
    if not text:
        raise UserError("the text is empty")
    prefix, suffix = tokenizer.prefix_ids, tokenizer.suffix_ids
    room = model.cfg.context - len(prefix) - len(suffix)
    if room < 1:
        raise UserError(f"the model's context ({model.cfg.context}) has no room for a text after its special tokens")
    ids = tokenizer.encode(text).ids
    if not ids:
        raise UserError("the text has no tokens")
    full = prefix + ids[:room] + suffix
    return TextInput(full, [tokenizer.token_text(i) for i in full], max(0, len(ids) - room))


def _changes(model: GPT, out: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """(b, T + 1): 1 - cos of each token's output vector to the clean one, then of the sentence embedding."""
    h, h0 = model.ln_f(out).double(), model.ln_f(clean).double()  # (b, T, d), (1, T, d)
    per_token = 1.0 - F.cosine_similarity(h, h0.expand_as(h), dim=-1)  # (b, T)
    sentence = 1.0 - F.cosine_similarity(h.mean(1), h0.mean(1).expand(h.shape[0], -1), dim=-1)  # (b,)
    return torch.cat([per_token, sentence[:, None]], 1).clamp_min(0.0)


@dataclass
class EmbeddingChange:
    """What switching ``sites`` off (or patching them) did to an encoder's output for one text."""

    sites: list[str]
    mode: str
    tokens: list[str]  # the input tokens, [CLS] and [SEP] included
    change: float  # 1 - cos of the sentence embedding to the clean one
    per_token: np.ndarray  # (T,) 1 - cos of each token's output vector to the clean one
    truncated: int = 0  # tokens cut from the end of the text (longer than the context)
    patched: int = 0
    measure: str = "embedding"

    @property
    def cosine(self) -> float:
        return 1.0 - self.change

    def most_moved(self, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` tokens whose output vectors moved most, largest first."""
        order = np.argsort(-self.per_token, kind="stable")[:k]
        return [(self.tokens[i], float(self.per_token[i])) for i in order]

    def to_dict(self) -> dict:
        return {"measure": self.measure, "sites": self.sites, "mode": self.mode, "cosine": self.cosine,
                "change": self.change, "truncated": self.truncated, "patched": self.patched,
                "per_token": [{"token": t, "change": float(c)} for t, c in zip(self.tokens, self.per_token,
                                                                                strict=True)]}


@torch.no_grad()
def intervene_encoder(model: GPT, tokenizer: Tokenizer, text: str, sites: list[Site], mode: str = "zero",
                      reference: list[str] | None = None, source: str | None = None,
                      last: int | None = None) -> EmbeddingChange:
    """The change of the sentence embedding and of every token's output vector when ``sites`` are switched
    off (``zero``, ``mean``) or patched from ``source`` (see engine.interp.ablation); no sites: no change."""
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    check_sites(model, sites)
    inp = encoder_input(model, tokenizer, text)
    values, patched = replacements(model, tokenizer, inp, sites, mode, reference, source, last)
    idx = inp.tensor
    clean = model(idx, head=False)[0]  # (1, T, d): final hidden states, after the final norm
    with hooks(model, setters(sites, values)):
        after = model(idx, head=False)[0]
    # ln_f is already applied by forward(head=False); compare the vectors as they are
    h, h0 = after[0].double(), clean[0].double()
    per_token = (1.0 - F.cosine_similarity(h, h0, dim=-1)).clamp_min(0.0)
    change = float((1.0 - F.cosine_similarity(h.mean(0), h0.mean(0), dim=0)).clamp_min(0.0))
    return EmbeddingChange([s.label for s in sites], mode, inp.tokens, change, per_token.numpy(), inp.truncated,
                           patched)


@dataclass
class HeadEmbeddingEffect:
    """Each head of an encoder switched off alone: how far the sentence embedding moves."""

    mode: str
    tokens: list[str]
    effect: np.ndarray  # (L, H): 1 - cos of the sentence embedding with head (l, h) off
    per_token: np.ndarray  # (L, H, T): 1 - cos of each token's output vector
    truncated: int = 0
    measure: str = "embedding"

    def to_dict(self) -> dict:
        return {"measure": self.measure, "mode": self.mode, "effect": self.effect.tolist(),
                "truncated": self.truncated}


@torch.no_grad()
def every_head_embedding_effect(model: GPT, tokenizer: Tokenizer, text: str, mode: str = "zero",
                                token: CancelToken | None = None) -> HeadEmbeddingEffect:
    """Switch off every head of an encoder one at a time -> the L x H matrix of 1 - cos of the sentence
    embedding (batched as engine.interp.ablation.each_head_off)."""
    inp = encoder_input(model, tokenizer, text)
    _, per = each_head_off(model, inp.tensor, mode, lambda out, clean: _changes(model, out, clean), token)
    return HeadEmbeddingEffect(mode, inp.tokens, per[..., -1].numpy(), per[..., :-1].numpy(), inp.truncated)
