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
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from engine.errors import UserError
from engine.files import WriteFailed, fsync_dir, ordinary_permissions, reason, remove_leftovers, temp_prefix
from engine.model import GPT, ModelConfig
from engine.tokenizers import FOREIGN_KINDS, KINDS, Tokenizer, folder_tokenizer, tokenizer_specials
from engine.validate import choice, mapping, text, whole

FORMAT = "txe-checkpoint"
VERSION = 1
ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_CHECKPOINT = ASSETS / "default-model"
MAX_CONFIG_BYTES = 16 * 2**20  # a config.json is a few KB; its loss history lives in trainer.json
MAX_STEPS = 10**12
FLOAT_TYPES = ("F32", "F16", "BF16", "F64")


@dataclass
class LoadedModel:
    model: GPT
    tokenizer: Tokenizer
    config: dict[str, Any]  # the whole config.json
    path: Path

    @property
    def step(self) -> int:
        return int(self.config.get("step", 0))  # checked by read_config


def default_checkpoint_path() -> Path:
    return DEFAULT_CHECKPOINT


def resolve_checkpoint(path: str | Path | None) -> Path:
    """``None`` means the embedded default model in ``assets/``."""
    return Path(path) if path else DEFAULT_CHECKPOINT


def is_checkpoint(path: str | Path) -> bool:
    return (Path(path) / "config.json").is_file()


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False), encoding="utf-8")


def old_copy(dest: Path) -> Path:
    """Where a save keeps the previous copy between its two renames."""
    return dest.parent / f".{dest.name}.old"


def has_checkpoint(path: str | Path) -> bool:
    """True when ``path`` holds a checkpoint, or a crash left its previous copy at ``.DIR.old``."""
    dest = Path(path)
    return is_checkpoint(dest) or is_checkpoint(old_copy(dest))


def recover(dest: Path) -> Path:
    """If a save died between its two renames, the previous copy waits at ``.DIR.old``: move it back
    (when ``dest`` is missing or an empty folder) and return where the checkpoint now is. Never deletes
    a copy: when ``dest`` holds something else, or cannot be changed, the old copy is read in place."""
    old = old_copy(dest)
    if is_checkpoint(dest) or not is_checkpoint(old):
        return dest
    try:
        if dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir()):
            dest.rmdir()
        if not dest.exists():
            os.replace(old, dest)
            return dest
    except OSError:
        pass
    return old


_recover = recover  # the name older callers use


def clean_leftovers(dest: str | Path) -> None:
    """Remove what interrupted saves left beside ``dest``: their temporary folders, and a stale
    ``.DIR.old`` once ``dest`` itself is complete (a crash after the second rename leaves one)."""
    dest = Path(dest)
    remove_leftovers(dest)
    if is_checkpoint(dest) and old_copy(dest).exists():
        shutil.rmtree(old_copy(dest), ignore_errors=True)


def save_checkpoint(path: str | Path, model: GPT, tokenizer: Tokenizer, *, extra: dict[str, Any] | None = None,
                    optimizer_state: dict | None = None, trainer_state: dict | None = None) -> Path:
    """Write a checkpoint atomically (see the module docstring). ``extra`` goes into config.json.

    A failure to write (full disk, no permission) raises :class:`engine.files.WriteFailed`: the temporary
    copy is removed and the previous checkpoint, if any, is left as it was.
    """
    dest = Path(path)
    recover(dest)  # a copy a crash left at .DIR.old is the last good one: never delete it
    if dest.exists() and (not dest.is_dir() or (any(dest.iterdir()) and not is_checkpoint(dest))):
        raise UserError(f"{dest} exists and is not a checkpoint; choose a new or empty folder")
    tmp: Path | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        clean_leftovers(dest)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(dest), suffix=".tmp", dir=dest.parent))
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        if model.cfg.tied:
            state.pop("lm_head.weight", None)  # the same tensor as wte.weight
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": FORMAT})
        tokenizer.save(tmp / "tokenizer.json")
        if optimizer_state is not None:
            torch_save(optimizer_state, tmp / "optimizer.pt")
        if trainer_state is not None:
            _write_json(tmp / "trainer.json", trainer_state)
        config = {"format": FORMAT, "version": VERSION, "model": model.cfg.to_dict(),
                  "tokenizer": tokenizer.kind, **(extra or {})}
        if not tokenizer.ours:  # a real model's (SmolLM2 tuned here): its special tokens go beside tokenizer.json
            config["specials"] = tokenizer_specials(tokenizer)
        _write_json(tmp / "config.json", config)  # written last: its presence marks a complete copy
        ordinary_permissions(tmp, folder=True)
        for f in tmp.iterdir():
            ordinary_permissions(f)
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        old = old_copy(dest)
        if is_checkpoint(dest):
            shutil.rmtree(old, ignore_errors=True)  # stale: dest is the complete copy
            os.replace(dest, old)
        elif dest.exists():
            dest.rmdir()  # an empty folder
        os.replace(tmp, dest)
        tmp = None
        fsync_dir(dest.parent)
        shutil.rmtree(old, ignore_errors=True)
    except (OSError, SafetensorError) as e:
        step = (extra or {}).get("step")
        at = f" at step {step}" if step is not None else ""
        why = reason(e) if isinstance(e, OSError) else str(e).rpartition("I/O error: ")[2][:80]
        raise WriteFailed(f"could not save the checkpoint{at} to {dest} ({why}); {last_good(dest)}") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


class _WriteRecorder:
    """A file torch.save writes through, keeping the OSError that torch would wrap in a RuntimeError."""

    def __init__(self, f: Any) -> None:
        self.f, self.error = f, None

    def write(self, data: bytes) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


def torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` that reports a failed write (a full disk) as the OSError it is."""
    with open(path, "wb") as f:
        recorder = _WriteRecorder(f)
        try:
            torch.save(obj, recorder)
        except RuntimeError:
            if recorder.error is not None:
                raise recorder.error from None
            raise


def last_good(dest: Path) -> str:
    """One clause on what is still intact at ``dest`` (for messages after a failed save)."""
    where = recover(dest)
    if not is_checkpoint(where):
        return "no earlier checkpoint was there"
    try:
        step = json.loads((where / "config.json").read_text(encoding="utf-8")).get("step")
    except (OSError, ValueError):
        step = None
    return f"the last good checkpoint{f' (step {step})' if isinstance(step, int) else ''} is intact at {where}"


def read_config(path: str | Path) -> dict[str, Any]:
    p = recover(Path(path))
    if not p.exists():
        raise UserError(f"no checkpoint at {p}")
    if not p.is_dir():
        raise UserError(f"{p} is a file; a checkpoint is a folder with config.json and model.safetensors")
    cfg_path = p / "config.json"
    if not cfg_path.is_file():
        raise UserError(f"{p} is not a checkpoint (it has no config.json)")
    try:
        if cfg_path.stat().st_size > MAX_CONFIG_BYTES:
            raise UserError(f"{cfg_path} is too large to be a checkpoint's config")
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise UserError(f"{cfg_path} is corrupt (not valid JSON)") from None
    except OSError as e:
        raise UserError(f"{cfg_path} cannot be read ({reason(e)})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise UserError(f"{p} is not a Transformer Explorer checkpoint")
    if config.get("version") != VERSION or isinstance(config.get("version"), bool):
        raise UserError(f"{p} has checkpoint version {str(config.get('version'))[:20]}; this build reads {VERSION}")
    where = str(cfg_path)
    whole(config.get("step", 0), "step", 0, MAX_STEPS, where)
    if config.get("tokenizer") is not None:
        choice(config["tokenizer"], "tokenizer", KINDS + FOREIGN_KINDS, where)
    if config.get("corpus") is not None:
        text(config["corpus"], "corpus", where)
    for key in ("train", "summary"):
        if config.get(key) is not None:
            mapping(config[key], key, where)
    objective = config.get("objective") or (config.get("train") or {}).get("objective") or "next"
    config["objective"] = choice(objective, "objective", ("next", "mlm"), where)
    return config


def model_config_of(config: dict[str, Any], where: str) -> ModelConfig:
    if "model" not in config:
        raise UserError(f"{where} has no model settings")
    try:
        return ModelConfig.from_dict(config["model"])
    except UserError as e:
        raise UserError(f"{where}: {e}") from None


def _check_weights_file(weights: Path, mcfg: ModelConfig) -> None:
    """Compare the tensor names, shapes and types in the safetensors header with what the config implies,
    before a byte of weights is read or a model is built."""
    if not weights.is_file():
        raise UserError(f"{weights.parent} has no model.safetensors")
    expected = mcfg.weight_shapes()
    try:
        with safe_open(str(weights), framework="pt") as f:
            found = {name: (tuple(f.get_slice(name).get_shape()), f.get_slice(name).get_dtype()) for name in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"{weights} is corrupt or truncated ({str(e).splitlines()[0][:80]})") from None
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        name = (missing or unexpected)[0]
        what = "is missing" if missing else "is not part of this model"
        raise UserError(f"{weights} does not match its config: tensor {name} {what}")
    for name, (shape, dtype) in found.items():
        if shape != expected[name]:
            raise UserError(f"{weights} does not match its config: {name} is {shape}, expected {expected[name]}")
        if dtype not in FLOAT_TYPES:
            raise UserError(f"{weights}: {name} holds {dtype} values, not floating-point weights")


def read_weights(weights: Path, expected: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file whose names and shapes must be exactly ``expected`` (finite floats,
    returned as float32); a missing, corrupt, truncated or mismatched file is one UserError."""
    if not weights.is_file():
        raise UserError(f"{weights.parent} has no {weights.name}")
    try:
        with safe_open(str(weights), framework="pt") as f:
            names = set(f.keys())
            if names != set(expected):
                odd = sorted(names ^ set(expected))[0]
                raise UserError(f"{weights} does not match its config (tensor {odd})")
            state = {}
            for name in names:
                t = f.get_tensor(name)
                if tuple(t.shape) != expected[name]:
                    raise UserError(f"{weights} does not match its config: {name} is {tuple(t.shape)}, "
                                    f"expected {expected[name]}")
                if not t.is_floating_point() or not torch.isfinite(t).all():
                    raise UserError(f"{weights}: tensor {name} is not finite floating-point weights")
                state[name] = t.float()
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UserError(f"{weights} is corrupt or truncated ({str(e).splitlines()[0][:80]})") from None
    return state


def load_checkpoint(path: str | Path | None = None) -> LoadedModel:
    """Load model, tokenizer and config from a checkpoint folder (the default model when None).

    Every setting is checked, the model's size against the machine, and the weights' names and shapes
    against the config (from the safetensors header) before anything large is allocated; weights that
    are NaN or infinite are refused.
    """
    p = recover(resolve_checkpoint(path))
    config = read_config(p)
    mcfg = model_config_of(config, f"{p}/config.json")
    mcfg.check_size(f"loading {p}")
    if "specials" in config:  # a real model's tokenizer (a tuned SmolLM2): it may have fewer ids than the model
        tokenizer = folder_tokenizer(p, config)
        if tokenizer.vocab_size <= mcfg.vocab_size:
            tokenizer.pad_to(mcfg.vocab_size)
    else:
        tokenizer = Tokenizer.load(p / "tokenizer.json")
    if tokenizer.vocab_size != mcfg.vocab_size:
        raise UserError(f"{p}: tokenizer has {tokenizer.vocab_size} tokens but the model expects "
                        f"{mcfg.vocab_size}; the files come from different runs")
    weights = p / "model.safetensors"
    _check_weights_file(weights, mcfg)
    model = GPT(mcfg)
    params = dict(model.state_dict())
    try:
        with safe_open(str(weights), framework="pt") as f, torch.no_grad():
            for name in f.keys():
                tensor = f.get_tensor(name)
                if not torch.isfinite(tensor).all():
                    raise UserError(f"{weights}: tensor {name} has NaN or infinite values")
                params[name].copy_(tensor)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UserError(f"{weights} is corrupt or truncated ({str(e).splitlines()[0][:80]})") from None
    model.objective = config["objective"]  # "mlm": a masked model (bidirectional, with its unembedding)
    model.eval()
    return LoadedModel(model, tokenizer, config, p)


def load_training_state(path: str | Path, max_optimizer_bytes: int | None = None) -> tuple[Any, Any]:
    """Optimizer state and trainer state for resuming (None where the checkpoint has none), as read;
    :mod:`engine.trainstate` checks their contents. ``max_optimizer_bytes`` refuses an optimizer file
    far larger than the model's could be before torch reads it."""
    p = recover(Path(path))
    opt = None
    opt_path = p / "optimizer.pt"
    if opt_path.is_file():
        if max_optimizer_bytes is not None and opt_path.stat().st_size > max_optimizer_bytes:
            raise UserError(f"{opt_path} is {opt_path.stat().st_size:,} bytes, far more than this model's "
                            "optimizer state; it belongs to another run")
        try:
            opt = torch.load(opt_path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for a damaged file
            raise UserError(f"{opt_path} is corrupt ({str(e).splitlines()[0][:80]})") from None
    trainer = None
    if (p / "trainer.json").is_file():
        try:
            if (p / "trainer.json").stat().st_size > 2**30:
                raise UserError(f"{p}/trainer.json is too large")
            trainer = json.loads((p / "trainer.json").read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise UserError(f"{p}/trainer.json is corrupt (not valid JSON)") from None
    return opt, trainer
