"""Checks of the two files a resumed run reads besides the model: ``trainer.json`` and ``optimizer.pt``.

Both come from disk and may be damaged or edited by hand; each value is checked before the run uses
it, so a bad file is one clear :class:`UserError` instead of a crash in the middle of training. From
``optimizer.pt`` only the tensors are taken (AdamW's step count and two moments per parameter, and the
batch sampler's random state); the optimizer's settings always come from the run's own config.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from engine.errors import UserError
from engine.validate import mapping, number_list, real, whole

MAX_STEPS = 10**12
HISTORY_KEYS = ("step", "loss", "eval_step", "train_loss", "val_loss")


def check_trainer_state(raw: Any, where: str) -> dict[str, Any]:
    """The fields of trainer.json, each checked; returns them with their defaults filled in."""
    mapping(raw, "the trainer state", where)
    step = whole(raw.get("step"), "step", 0, MAX_STEPS, where)
    history = mapping(raw.get("history"), "history", where)
    for key in HISTORY_KEYS:
        number_list(history.get(key), f"history.{key}", where, allow_nan=key in ("train_loss", "val_loss"),
                    whole_numbers=key in ("step", "eval_step"))
    if len(history["step"]) != len(history["loss"]) or not (
            len(history["eval_step"]) == len(history["train_loss"]) == len(history["val_loss"])):
        raise UserError(f"{where}: the loss history lists have different lengths")
    first = raw.get("first_loss")
    if first is not None:
        real(first, "first_loss", where=where)
    return {"step": step, "history": {k: list(history[k]) for k in HISTORY_KEYS}, "first_loss": first,
            "train_seconds": real(raw.get("train_seconds", 0.0), "train_seconds", 0.0, where=where),
            "tokens_seen": whole(raw.get("tokens_seen", 0), "tokens_seen", 0, 2**62, where)}


def _tensor(value: Any, name: str, shape: tuple[int, ...], where: str, nonnegative: bool = False) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.dtype != torch.float32 or tuple(value.shape) != shape:
        got = f"{value.dtype} {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise UserError(f"{where}: {name} should be float32 {shape}, found {got}")
    if not torch.isfinite(value).all() or (nonnegative and (value < 0).any()):
        raise UserError(f"{where}: {name} has {'negative, ' if nonnegative else ''}NaN or infinite values")
    return value


def check_optimizer_state(raw: Any, optimizer: torch.optim.Optimizer, where: str) -> tuple[dict, torch.Tensor]:
    """(a state dict ready for ``optimizer.load_state_dict``, the sampler's random state) from the
    contents of optimizer.pt, every tensor checked against the parameter it belongs to."""
    mapping(raw, "the optimizer file", where)
    saved = mapping(raw.get("optimizer"), "optimizer", where)
    state = mapping(saved.get("state"), "optimizer.state", where)
    groups = saved.get("param_groups")
    ours = optimizer.state_dict()
    if not isinstance(groups, list) or [len(g.get("params", ())) if isinstance(g, dict) else -1 for g in groups] != \
            [len(g["params"]) for g in ours["param_groups"]]:
        raise UserError(f"{where} was saved for a different model (its parameter groups differ)")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    clean: dict[int, dict[str, torch.Tensor]] = {}
    for key, entry in state.items():
        if isinstance(key, bool) or not isinstance(key, int) or not 0 <= key < len(params):
            raise UserError(f"{where}: optimizer state for parameter {str(key)[:20]}, which this model lacks")
        mapping(entry, f"optimizer state {key}", where)
        shape = tuple(params[key].shape)
        step = entry.get("step")
        if isinstance(step, torch.Tensor) and step.numel() == 1 and step.dtype.is_floating_point:
            step_value = float(step)
        elif isinstance(step, int | float) and not isinstance(step, bool):
            step_value = float(step)
        else:
            raise UserError(f"{where}: optimizer state {key} has no valid step count")
        if not math.isfinite(step_value) or step_value < 0 or step_value > MAX_STEPS:
            raise UserError(f"{where}: optimizer state {key} has step count {step_value}")
        clean[key] = {"step": torch.tensor(step_value, dtype=torch.float32),
                      "exp_avg": _tensor(entry.get("exp_avg"), f"exp_avg of parameter {key}", shape, where),
                      "exp_avg_sq": _tensor(entry.get("exp_avg_sq"), f"exp_avg_sq of parameter {key}", shape, where,
                                            nonnegative=True)}
    rng = raw.get("rng")
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8 or rng.dim() != 1:
        raise UserError(f"{where}: the sampler's random state is missing or damaged")
    try:
        torch.Generator().set_state(rng)
    except RuntimeError:
        raise UserError(f"{where}: the sampler's random state is damaged") from None
    return {"state": clean, "param_groups": ours["param_groups"]}, rng
