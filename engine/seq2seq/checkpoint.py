"""A translator's folder: ``model.safetensors`` (the weights), ``source.json`` and ``target.json`` (the
vocabularies, Hugging Face tokenizer files) and ``config.json`` (format ``txe-seq2seq``, version, the model
settings, the data it was trained on, training settings and results).

Written atomically (engine.files.write_folder: a complete new copy, then one rename), so an autosave
interrupted at any moment leaves the previous checkpoint. Reading refuses, with one line, a missing folder,
a folder of another kind, a corrupt or truncated file, weights that do not match the settings, or
vocabularies of other sizes than the model's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import save_file

from engine.checkpoint import read_weights
from engine.errors import UserError
from engine.files import is_format_folder, read_folder_config, write_folder
from engine.seq2seq.decode import Translator
from engine.seq2seq.models import Seq2SeqConfig, build_model
from engine.seq2seq.vocab import load_vocab

FORMAT = "txe-seq2seq"
VERSION = 1
MAX_CONFIG_BYTES = 8 * 2**20


def save_translator(tr: Translator, folder: str | Path) -> Path:
    """Write ``folder`` atomically (see the module docstring)."""
    dest = Path(folder)
    if dest.exists() and (not dest.is_dir() or (any(dest.iterdir()) and not is_translator(dest))):
        raise UserError(f"{dest} exists and is not a seq2seq checkpoint; choose a new or empty folder")

    def fill(tmp: Path) -> None:
        state = {k: v.detach().contiguous() for k, v in tr.model.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": FORMAT})
        tr.src_vocab.save(tmp / "source.json")
        tr.tgt_vocab.save(tmp / "target.json")
        config = {"format": FORMAT, "version": VERSION, "model": tr.model.cfg.to_dict(), "data": tr.data,
                  "train": tr.info}
        (tmp / "config.json").write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")

    return write_folder(dest, fill, "the translator", (SafetensorError,))


def is_translator(folder: str | Path) -> bool:
    return is_format_folder(folder, FORMAT, MAX_CONFIG_BYTES)


def _read_config(p: Path) -> dict[str, Any]:
    if p.is_file():
        raise UserError(f"{p} is a file; a seq2seq checkpoint is a folder")
    return read_folder_config(p, FORMAT, VERSION, "seq2seq checkpoint", f"txe seq2seq train --out {p}",
                              f"{p} is not a seq2seq checkpoint (its config.json has another format)",
                              MAX_CONFIG_BYTES)


def load_translator(folder: str | Path) -> Translator:
    """Read what :func:`save_translator` wrote (see the module docstring for what is refused)."""
    p = Path(folder)
    config = _read_config(p)
    try:
        cfg = Seq2SeqConfig.from_dict(config.get("model"))
    except (UserError, TypeError) as e:
        raise UserError(f"{p}/config.json: {e}") from None
    src_vocab, tgt_vocab = load_vocab(p / "source.json"), load_vocab(p / "target.json")
    for name, vocab, size in (("source", src_vocab, cfg.src_vocab), ("target", tgt_vocab, cfg.tgt_vocab)):
        if vocab.vocab_size != size:
            raise UserError(f"{p}: the {name} vocabulary has {vocab.vocab_size} words but the model "
                            f"{size}; the files come from different runs")
    model = build_model(cfg)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = read_weights(p / "model.safetensors", expected)
    model.load_state_dict(state)
    model.eval()
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    info = config.get("train") if isinstance(config.get("train"), dict) else {}
    return Translator(model, src_vocab, tgt_vocab, data, info)
