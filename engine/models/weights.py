"""Gathering a model's weights from another layout: which source tensors make each of ours, checked by
shape (from the file's header) before anything is read.

A :class:`Recipe` names the source tensors of one of our tensors: several are stacked along the first
axis (query, key and value maps into ``W_qkv``; gate and up maps into ``W_gu``), and GPT-2's ``Conv1D``
stores (in, out) matrices that are transposed into torch's (out, in).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from engine.errors import UserError
from engine.files import reason

FLOAT_TYPES = ("F32", "F16", "BF16", "F64")


@dataclass
class Recipe:
    sources: list[str]  # stacked along the first axis, in this order
    transpose: bool = False  # each source is (in, out): transposed first
    fix: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)  # applied at the end

    def shape(self, shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
        parts = [tuple(reversed(shapes[s])) if self.transpose else shapes[s] for s in self.sources]
        if len({p[1:] for p in parts}) != 1:
            return ()
        return (sum(p[0] for p in parts), *parts[0][1:])


class SafetensorsFolder:
    """The tensors of ``model.safetensors`` (or the shards a ``model.safetensors.index.json`` lists)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        index = folder / "model.safetensors.index.json"
        if (folder / "model.safetensors").is_file():
            files = [folder / "model.safetensors"]
        elif index.is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
                files = sorted({folder / str(name) for name in weight_map.values()})
            except (ValueError, OSError, AttributeError) as e:
                raise UserError(f"{index} is corrupt ({str(e)[:80]})") from None
            if not files or any(f.parent != folder or not f.is_file() for f in files):
                raise UserError(f"{index} lists weight files that are not in {folder}")
        else:
            raise UserError(f"{folder} has no model.safetensors (weights in other formats, such as "
                            "pytorch_model.bin, are not read)")
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.dtypes: dict[str, str] = {}
        self._where: dict[str, Path] = {}
        for path in files:
            try:
                with safe_open(str(path), framework="pt") as f:
                    for name in f.keys():
                        s = f.get_slice(name)
                        self.shapes[name], self.dtypes[name] = tuple(s.get_shape()), s.get_dtype()
                        self._where[name] = path
            except (SafetensorError, OSError, ValueError) as e:
                why = reason(e) if isinstance(e, OSError) else str(e).splitlines()[0][:80]
                raise UserError(f"{path} is corrupt or truncated ({why})") from None

    def read(self, names: list[str]) -> dict[str, torch.Tensor]:
        """The named tensors as float32 (each checked for NaN and infinities)."""
        out: dict[str, torch.Tensor] = {}
        by_file: dict[Path, list[str]] = {}
        for name in names:
            by_file.setdefault(self._where[name], []).append(name)
        for path, group in by_file.items():
            try:
                with safe_open(str(path), framework="pt") as f:
                    for name in group:
                        t = f.get_tensor(name).float()
                        if not torch.isfinite(t).all():
                            raise UserError(f"{path}: tensor {name} has NaN or infinite values")
                        out[name] = t
            except (SafetensorError, OSError, ValueError, RuntimeError) as e:
                raise UserError(f"{path} is corrupt or truncated ({str(e).splitlines()[0][:80]})") from None
        return out


def check_recipes(recipes: dict[str, Recipe], expected: dict[str, tuple[int, ...]],
                  shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str], where: str) -> None:
    """Every source exists, is floating point, and makes a tensor of the expected shape."""
    for ours, recipe in recipes.items():
        for s in recipe.sources:
            if s not in shapes:
                raise UserError(f"{where}: the weights lack {s}")
            if dtypes.get(s, "F32") not in FLOAT_TYPES:
                raise UserError(f"{where}: {s} holds {dtypes[s]} values, not floating-point weights")
        got = recipe.shape(shapes)
        if got != expected[ours]:
            shown = ", ".join(f"{s} {shapes[s]}" for s in recipe.sources)
            raise UserError(f"{where}: {shown} do not fit its config (expected {expected[ours]} in all)")


def assemble(recipes: dict[str, Recipe], tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our tensors from the source tensors (each source used once, then dropped)."""
    out = {}
    for ours, recipe in recipes.items():
        parts = [tensors.pop(s) for s in recipe.sources]
        if recipe.transpose:
            parts = [p.t() for p in parts]
        t = parts[0].contiguous() if len(parts) == 1 else torch.cat(parts, dim=0)
        out[ours] = recipe.fix(t) if recipe.fix is not None else t
    return out


def norm_recipes(ours: str, theirs: str, layernorm: bool) -> dict[str, Recipe]:
    """A norm's gamma (and beta): our ``ours.weight`` (``ours.bias``) from ``theirs.weight`` (``theirs.bias``)."""
    out = {f"{ours}.weight": Recipe([f"{theirs}.weight"])}
    if layernorm:
        out[f"{ours}.bias"] = Recipe([f"{theirs}.bias"])
    return out
