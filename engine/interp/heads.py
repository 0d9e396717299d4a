"""What each head does, as four scores on probe data where the answer is known.

Probe data: ``batch`` sequences, each the model's start tokens (``<|bos|>``; none for SmolLM2) followed by
a segment of ``n`` random tokens drawn from the vocabulary (specials left out; no token twice within a
segment when the vocabulary allows) and the same segment again, seeded. With s = the number of start
tokens, the first repeat is at positions s..s+n-1 and the second at s+n..s+2n-1; token s+n+j equals token
s+j. alpha^(l,h)_ij is head h's attention weight of layer l (seed 002 Eq. 11.13). Each score is a mean over
the batch and, per head:

- ``previous_token``: mean over i = 1..T-1 of alpha_{i, i-1} (attention to the token just before);
- ``first_token`` (the attention sink): mean over i = 1..T-1 of alpha_{i, 0} (to the first input token);
- ``duplicate_token``: mean over the second repeat, i = s+n+j (j = 0..n-1), of alpha_{i, s+j} (to the
  earlier occurrence of the same token);
- ``induction``: mean over the second repeat, i = s+n+j, of alpha_{i, s+j+1} (to the token that followed
  the earlier occurrence: what an induction head copies, "A B ... A -> B").

Each is in [0, 1]; a head that always attends uniformly over i + 1 tokens scores about 1 / (i + 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import UserError
from engine.model import GPT, Probe
from engine.tokenizers import Tokenizer

SCORES = ("previous_token", "first_token", "duplicate_token", "induction")
SEGMENT = 40  # tokens in a segment by default (fewer when the context is short)


@dataclass
class RepeatedTokens:
    ids: torch.Tensor  # (B, T): start tokens, a random segment, the same segment again
    start: int  # s: the first position of the first repeat
    n: int  # the segment's length


def repeated_tokens(model: GPT, tokenizer: Tokenizer, n: int | None = None, batch: int = 8,
                    seed: int = 0) -> RepeatedTokens:
    """The probe data of the module docstring."""
    prefix = list(tokenizer.prefix_ids)
    room = (model.cfg.context - len(prefix)) // 2
    n = min(SEGMENT, room) if n is None else int(n)
    if not 2 <= n <= room:
        raise UserError(f"the repeated segment must be 2 to {room} tokens for this model's context "
                        f"({model.cfg.context}), not {n}")
    special = set(tokenizer.special_ids) | set(tokenizer.never_generate) | set(prefix) | set(tokenizer.suffix_ids)
    pool = np.array([i for i in range(min(tokenizer.vocab_size, model.cfg.vocab_size)) if i not in special])
    if len(pool) < 2:
        raise UserError("the vocabulary has too few ordinary tokens to build probe sequences")
    rng = np.random.default_rng(seed)
    segs = np.stack([rng.choice(pool, n, replace=len(pool) < n) for _ in range(batch)])  # (B, n)
    body = np.concatenate([segs, segs], axis=1)
    ids = np.concatenate([np.tile(np.array(prefix, dtype=np.int64), (batch, 1)), body], axis=1)
    return RepeatedTokens(torch.from_numpy(ids.astype(np.int64)), len(prefix), n)


def scores_from_attention(attention: torch.Tensor | np.ndarray, start: int, n: int) -> dict[str, np.ndarray]:
    """The four scores (module docstring) from attention weights (B, L, H, T, T) of repeated sequences whose
    first repeat starts at ``start`` and is ``n`` long: name -> (L, H) float64."""
    a = torch.as_tensor(attention).double()  # (B, L, H, T, T)
    T = a.shape[-1]
    if T < start + 2 * n:
        raise ValueError(f"{T} positions cannot hold start {start} and two repeats of {n}")
    i = torch.arange(1, T)
    second = torch.arange(start + n, start + 2 * n)  # queries of the second repeat
    return {
        "previous_token": a[..., i, i - 1].mean((0, -1)).numpy(),
        "first_token": a[..., i, 0].mean((0, -1)).numpy(),
        "duplicate_token": a[..., second, second - n].mean((0, -1)).numpy(),
        "induction": a[..., second, second - n + 1].mean((0, -1)).numpy(),
    }


@dataclass
class HeadScores:
    scores: dict[str, np.ndarray]  # name -> (L, H)
    n: int  # segment length of the probe data
    batch: int
    seed: int

    def to_dict(self) -> dict:
        return {"scores": {k: v.tolist() for k, v in self.scores.items()}, "segment": self.n, "batch": self.batch,
                "seed": self.seed}


@torch.no_grad()
def head_scores(model: GPT, tokenizer: Tokenizer, n: int | None = None, batch: int = 8, seed: int = 0) -> HeadScores:
    """Every head's four scores on seeded probe data (module docstring); attention one layer at a time."""
    data = repeated_tokens(model, tokenizer, n, batch, seed)
    layers: list[dict[str, np.ndarray]] = []

    def on_layer(layer: int, att: torch.Tensor, _: torch.Tensor | None) -> None:
        s = scores_from_attention(att[:, None], data.start, data.n)  # (B, 1, H, T, T)
        layers.append({k: v[0] for k, v in s.items()})

    model(data.ids, probe=Probe(on_layer=on_layer), head=False)
    scores = {k: np.stack([layer[k] for layer in layers]) for k in SCORES}  # (L, H) each
    return HeadScores(scores, data.n, batch, seed)
