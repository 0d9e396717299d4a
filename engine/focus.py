"""Where one token looked: the attention weights of one query position over the positions before it (or all
of them, in an encoder), for every layer and head (Eq. 11.13: alpha_ij for a fixed i).

The forward pass streams each layer's weights through the probe hook and keeps only the one row, so a long
conversation never holds every layer's (H, T, T) at once.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.errors import UserError
from engine.model import Probe


@torch.no_grad()
def attention_row(model: torch.nn.Module, ids: list[int], position: int) -> np.ndarray:
    """alpha[l, h, j] for query ``position`` over the keys 0 .. position (causal) or all keys (encoder):
    (L, H, T) float32."""
    T = len(ids)
    if not 0 <= position < T:
        raise UserError(f"position {position} is outside the {T} tokens")
    if T > model.cfg.context:
        raise UserError(f"the conversation is {T} tokens and the model's context is {model.cfg.context}")
    causal = bool(getattr(model.cfg, "causal", True))
    n = position + 1 if causal else T
    rows: list[np.ndarray] = []

    def keep(_layer: int, attention: torch.Tensor, _scores: torch.Tensor | None) -> None:
        rows.append(attention[0, :, position, :n].float().numpy().copy())  # (H, n)

    model(torch.tensor([ids[:n] if causal else ids]), probe=Probe(on_layer=keep))
    return np.stack(rows)  # (L, H, n)


def most_attended(rows: np.ndarray, n: int = 5, skip_first: bool = True) -> list[tuple[int, float]]:
    """The ``n`` positions with the most weight averaged over every layer and head, as (position, weight).
    The first position is left out by default: many heads park their weight there when nothing else is
    relevant (an "attention sink"), and it would top every list."""
    mean = rows.mean(axis=(0, 1))  # (T,)
    order = [int(j) for j in np.argsort(-mean, kind="stable") if not (skip_first and j == 0)]
    return [(j, float(mean[j])) for j in order[:n]]
