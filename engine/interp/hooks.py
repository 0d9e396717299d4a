"""Hook points: named places in the forward pass where an intervention may read or replace an activation.

As TransformerLens' ``HookPoint`` (``blocks.{L}.attn.hook_z``), but as attributes that are None unless an
intervention is on, so a model with none costs one attribute test per layer (the fused attention path is
kept: the per-head outputs exist there too). Hooks are global state on the model: :func:`hooks` switches
them on for the ``with`` block only and always resets them. Cached decoding (engine.kvcache) has its own
path and ignores them.

- ``blocks.{l}.attn.hook_z`` (B, H, T, d_k): head h's output at position i, z_i^(h) = sum_j alpha_ij^(h)
  V^(h)(x_j) (seed 002 Eq. 11.13 and the inner sum of Eq. 11.14), before the heads are concatenated and
  projected by W_{h,c}. For a grouped-query model, H counts query heads.
- ``blocks.{l}.hook_mlp_out`` (B, T, d): the feed-forward output z' = W_2^T act(W_1^T u) (Eq. 11.16).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn

from engine.errors import UserError
from engine.model import GPT

Hook = Callable[[torch.Tensor], torch.Tensor]


def z_name(layer: int) -> str:
    return f"blocks.{layer}.attn.hook_z"


def mlp_name(layer: int) -> str:
    return f"blocks.{layer}.hook_mlp_out"


def hook_points(model: GPT) -> dict[str, tuple[nn.Module, str]]:
    """Every hook point of ``model``: name -> (module, attribute)."""
    points: dict[str, tuple[nn.Module, str]] = {}
    for i, block in enumerate(model.blocks):
        points[z_name(i)] = (block.attn, "hook_z")
        if block.ffn is not None:  # none in an attention-only model (mlp="none")
            points[mlp_name(i)] = (block.ffn, "hook_out")
    return points


@contextmanager
def hooks(model: GPT, fns: dict[str, Hook]) -> Iterator[None]:
    """Switch on ``fns`` (hook point name -> function of the activation returning its replacement) for the
    ``with`` block; they are removed on the way out, also after an error."""
    points = hook_points(model)
    unknown = sorted(set(fns) - set(points))
    if unknown:
        raise UserError(f"no hook point {unknown[0]} in this model (it has {len(model.blocks)} layers)")
    try:
        for name, fn in fns.items():
            module, attr = points[name]
            setattr(module, attr, fn)
        yield
    finally:
        for name in fns:
            module, attr = points[name]
            module.__dict__.pop(attr, None)  # back to the class's None


@torch.no_grad()
def capture(model: GPT, idx: torch.Tensor, names: Iterable[str]) -> dict[str, torch.Tensor]:
    """One forward pass of ``idx`` (B, T) that keeps what passes through the named hook points unchanged:
    name -> activation ((B, H, T, d_k) for hook_z, (B, T, d) for hook_mlp_out)."""
    kept: dict[str, torch.Tensor] = {}

    def keeper(name: str) -> Hook:
        def keep(x: torch.Tensor) -> torch.Tensor:
            kept[name] = x.detach().clone()
            return x
        return keep

    with hooks(model, {name: keeper(name) for name in names}):
        model(idx, head=False)
    return kept
