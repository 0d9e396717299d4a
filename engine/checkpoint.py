"""Checkpoints: one folder with the weights (safetensors), config and tokenizer (JSON), and, for
resuming, the optimizer and trainer state.

Layout of ``DIR``::

    config.json        {"format": "txe-checkpoint", "version": 1, "model": {...}, "tokenizer": "char", ...}
    model.safetensors  weights (a tied unembedding is stored once, as wte.weight)
    tokenizer.json     the Hugging Face tokenizer
    optimizer.pt       AdamW state (tensors only; loaded with weights_only=True)   [training runs]
    trainer.json       step, loss history, random states                           [training runs]

Saving is atomic: the new checkpoint is written in full to a hidden sibling folder, then swapped in by
two renames. If the process dies between them, loading finds the complete previous or new copy, so a
crash loses at most the work since the last save. Loading checks every file and every tensor shape and
reports a corrupt, truncated or mismatched checkpoint as one clear :class:`UserError`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engine.errors import UserError
from engine.model import GPT, ModelConfig
from engine.tokenizers import Tokenizer

FORMAT = "txe-checkpoint"
VERSION = 1
ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_CHECKPOINT = ASSETS / "default-model"


@dataclass
class LoadedModel:
    model: GPT
    tokenizer: Tokenizer
    config: dict[str, Any]  # the whole config.json
    path: Path

    @property
    def step(self) -> int:
        return int(self.config.get("step", 0))


def default_checkpoint_path() -> Path:
    return DEFAULT_CHECKPOINT


def resolve_checkpoint(path: str | Path | None) -> Path:
    """``None`` means the embedded default model in ``assets/``."""
    return Path(path) if path else DEFAULT_CHECKPOINT


def is_checkpoint(path: str | Path) -> bool:
    return (Path(path) / "config.json").is_file()


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False), encoding="utf-8")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(path: str | Path, model: GPT, tokenizer: Tokenizer, *, extra: dict[str, Any] | None = None,
                    optimizer_state: dict | None = None, trainer_state: dict | None = None) -> Path:
    """Write a checkpoint atomically (see the module docstring). ``extra`` goes into config.json."""
    dest = Path(path)
    if dest.exists() and (not dest.is_dir() or (any(dest.iterdir()) and not is_checkpoint(dest))):
        raise UserError(f"{dest} exists and is not a checkpoint; choose a new or empty folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        if model.cfg.tied:
            state.pop("lm_head.weight", None)  # the same tensor as wte.weight
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": FORMAT})
        tokenizer.save(tmp / "tokenizer.json")
        if optimizer_state is not None:
            torch.save(optimizer_state, tmp / "optimizer.pt")
        if trainer_state is not None:
            _write_json(tmp / "trainer.json", trainer_state)
        config = {"format": FORMAT, "version": VERSION, "model": model.cfg.to_dict(),
                  "tokenizer": tokenizer.kind, **(extra or {})}
        _write_json(tmp / "config.json", config)  # written last: its presence marks a complete copy
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a checkpoint is an ordinary folder
        for f in tmp.iterdir():
            os.chmod(f, 0o666 & ~umask)
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        old = dest.parent / f".{dest.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            os.replace(dest, old)
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _recover(dest: Path) -> Path:
    """If a save died between its two renames, the previous copy waits at .DIR.old."""
    old = dest.parent / f".{dest.name}.old"
    if not is_checkpoint(dest) and is_checkpoint(old):
        if not dest.exists():
            os.replace(old, dest)
            return dest
        return old
    return dest


def read_config(path: str | Path) -> dict[str, Any]:
    p = _recover(Path(path))
    if not p.exists():
        raise UserError(f"no checkpoint at {p}")
    if not p.is_dir():
        raise UserError(f"{p} is a file; a checkpoint is a folder with config.json and model.safetensors")
    cfg_path = p / "config.json"
    if not cfg_path.is_file():
        raise UserError(f"{p} is not a checkpoint (it has no config.json)")
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{cfg_path} is corrupt (not valid JSON)") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise UserError(f"{p} is not a Transformer Explorer checkpoint")
    if config.get("version") != VERSION:
        raise UserError(f"{p} has checkpoint version {config.get('version')}; this build reads {VERSION}")
    return config


def load_checkpoint(path: str | Path | None = None) -> LoadedModel:
    """Load model, tokenizer and config from a checkpoint folder (the default model when None)."""
    p = _recover(resolve_checkpoint(path))
    config = read_config(p)
    try:
        mcfg = ModelConfig.from_dict(config["model"])
    except (KeyError, TypeError) as e:
        raise UserError(f"{p}/config.json has no valid model settings ({e})") from None
    tokenizer = Tokenizer.load(p / "tokenizer.json")
    if tokenizer.vocab_size != mcfg.vocab_size:
        raise UserError(f"{p}: tokenizer has {tokenizer.vocab_size} tokens but the model expects "
                        f"{mcfg.vocab_size}; the files come from different runs")
    weights = p / "model.safetensors"
    if not weights.is_file():
        raise UserError(f"{p} has no model.safetensors")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{weights} is corrupt or truncated ({str(e).splitlines()[0][:80]})") from None
    model = GPT(mcfg)
    expected = model.state_dict()
    if mcfg.tied:
        expected.pop("lm_head.weight", None)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        name = (missing or unexpected)[0]
        what = "is missing" if missing else "is not part of this model"
        raise UserError(f"{weights} does not match its config: tensor {name} {what}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise UserError(f"{weights} does not match its config: {name} is {tuple(tensor.shape)}, "
                            f"expected {tuple(expected[name].shape)}")
    model.load_state_dict(state, strict=False)
    model.eval()
    return LoadedModel(model, tokenizer, config, p)


def load_training_state(path: str | Path) -> tuple[dict | None, dict | None]:
    """Optimizer state and trainer state for resuming (None where the checkpoint has none)."""
    p = _recover(Path(path))
    opt = None
    if (p / "optimizer.pt").is_file():
        try:
            opt = torch.load(p / "optimizer.pt", map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for a damaged file
            raise UserError(f"{p}/optimizer.pt is corrupt ({str(e).splitlines()[0][:80]})") from None
    trainer = None
    if (p / "trainer.json").is_file():
        try:
            trainer = json.loads((p / "trainer.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise UserError(f"{p}/trainer.json is corrupt (not valid JSON)") from None
    return opt, trainer
