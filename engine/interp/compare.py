"""Two models (or two checkpoints of one run) on the same text: per-token loss, head scores and attention,
side by side and as a difference (b - a).

They must share a tokenizer (else the "same text" is not the same sequence of tokens: one UserError). The
text is cut to the shorter context of the two. Differences of head scores and attention need the same
layers and heads (and for attention the same length, which a shared tokenizer gives); otherwise they are
None and the two are reported side by side only. Encoders (BERT, MiniLM) predict no next token: with one on
either side there is no per-token loss (``has_loss`` False), only attention and head scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import UserError
from engine.inference import require_decoder
from engine.interp.encoder import is_encoder
from engine.interp.heads import HeadScores, head_scores
from engine.interp.text import text_input
from engine.model import GPT, Probe
from engine.tokenizers import Tokenizer


def same_tokenizer(a: Tokenizer, b: Tokenizer) -> bool:
    """The same kind, special tokens around a text and vocabulary (token -> id)."""
    return (a.kind == b.kind and a.prefix_ids == b.prefix_ids and a.suffix_ids == b.suffix_ids
            and a.hf.get_vocab(with_added_tokens=True) == b.hf.get_vocab(with_added_tokens=True))


@dataclass
class Comparison:
    names: list[str]  # the two models as given
    tokens: list[str]  # the shared input tokens
    per_token: list[np.ndarray]  # each (T - 1,): -log p(x_{t+1}) under model a, b
    scores: list[HeadScores]  # empty when not asked for (compare(..., scores=False))
    attention: list[np.ndarray]  # each (L, H, T, T)
    truncated: int = 0

    @property
    def same_shape(self) -> bool:
        return self.attention[0].shape == self.attention[1].shape

    @property
    def has_loss(self) -> bool:
        return all(len(p) for p in self.per_token)

    @property
    def loss_diff(self) -> np.ndarray:
        return self.per_token[1] - self.per_token[0]  # (T - 1,)

    @property
    def scores_diff(self) -> dict[str, np.ndarray] | None:
        if not self.same_shape or not self.scores:
            return None
        return {k: self.scores[1].scores[k] - v for k, v in self.scores[0].scores.items()}  # (L, H) each

    @property
    def attention_diff(self) -> np.ndarray | None:
        return self.attention[1] - self.attention[0] if self.same_shape else None  # (L, H, T, T)

    def to_dict(self) -> dict:
        """JSON-ready: per-token losses, head scores, and of the attention each head's mean |b - a| (L, H)
        (the matrices themselves are large)."""
        a, b = self.names
        diff = self.attention_diff
        scores_diff = self.scores_diff
        return {
            "models": self.names, "tokens": self.tokens, "truncated": self.truncated,
            "loss": None if not self.has_loss else {
                a: float(self.per_token[0].mean()), b: float(self.per_token[1].mean()),
                "diff": float(self.loss_diff.mean())},
            "per_token": None if not self.has_loss else {
                a: self.per_token[0].tolist(), b: self.per_token[1].tolist(), "diff": self.loss_diff.tolist()},
            "scores": None if not self.scores else {
                a: self.scores[0].to_dict()["scores"], b: self.scores[1].to_dict()["scores"],
                "diff": None if scores_diff is None else {k: v.tolist() for k, v in scores_diff.items()}},
            "attention": {"shapes": [list(x.shape) for x in self.attention],
                          "mean_abs_diff": None if diff is None else np.abs(diff).mean((-1, -2)).tolist()},
        }


@torch.no_grad()
def _run(model: GPT, ids: list[int], loss: bool) -> tuple[np.ndarray, np.ndarray]:
    """(-log p of each next token (T - 1,), or empty without ``loss``; attention (L, H, T, T))."""
    idx = torch.tensor([ids])
    logits, _, trace = model(idx, probe=Probe(), head=loss)  # (1, T, V), or the hidden states
    attention = trace.stacked_attention()[0].float().numpy()
    if not loss:
        return np.zeros(0), attention
    nll = torch.nn.functional.cross_entropy(logits[0, :-1].double(), idx[0, 1:], reduction="none")
    return nll.numpy(), attention


def compare(a: tuple[GPT, Tokenizer], b: tuple[GPT, Tokenizer], text: str, names: tuple[str, str] = ("a", "b"),
            seed: int = 0, scores: bool = True) -> Comparison:
    """Models ``a`` and ``b`` (each (model, tokenizer)) on ``text`` (see the module docstring); head scores on
    the same seeded probe data (``scores`` False: none, only the text's loss and attention)."""
    (ma, ta), (mb, tb) = a, b
    loss = not (is_encoder(ma) or is_encoder(mb))
    for m in (ma, mb) if loss else ():
        require_decoder(m)  # (a masked model with an unembedding still predicts no next token)
    if not same_tokenizer(ta, tb):
        raise UserError(f"{names[0]} and {names[1]} have different tokenizers ({ta.kind}, {ta.vocab_size:,} tokens "
                        f"vs {tb.kind}, {tb.vocab_size:,}): the same text would not be the same tokens")
    if names[0] == names[1]:
        names = (names[0], names[1] + " (2)")
    shorter = ma if ma.cfg.context <= mb.cfg.context else mb
    inp = text_input(shorter, ta, text)
    (la, aa), (lb, ab) = _run(ma, inp.ids, loss), _run(mb, inp.ids, loss)
    seg = min(ma.cfg.context, mb.cfg.context)
    n = min(40, (seg - len(ta.prefix_ids)) // 2)
    hs = [head_scores(m, ta, n=n, batch=4, seed=seed) for m in (ma, mb)] if scores else []
    return Comparison(list(names), inp.tokens, [la, lb], hs, [aa, ab], inp.truncated)

