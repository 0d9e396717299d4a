"""What the app works on, in the engine's terms (no Qt): a model with its tokenizer and where it came
from, and the caches the views share.

A :class:`ModelHandle` is what a view's job computes with. The app's context hands one to every job it
submits, so a result always says which model (and which step of it) it is of, even when the user picks
another model while the job waits. A handle on a running training run follows its weights as they train
(its ``step`` moves); every other handle is fixed. Handles are only ever used inside the engine thread.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.checkpoint import DEFAULT_CHECKPOINT
from engine.corpus import load_corpus
from engine.errors import UserError
from engine.model import GPT
from engine.tokenizers import Tokenizer
from engine.tokenstats import Vocabulary, tokenizer_for, vocabulary


@dataclass(eq=False)
class ModelHandle:
    model: GPT
    tokenizer: Tokenizer
    config: dict[str, Any] = field(default_factory=dict)  # the checkpoint's config.json (or the run's)
    path: Path | None = None  # the checkpoint folder (a run's output folder)
    trainer: Any = None  # engine.training.Trainer while the run trains these very weights

    @property
    def step(self) -> int:
        return int(self.trainer.step) if self.trainer is not None else int(self.config.get("step", 0))

    @property
    def corpus(self) -> str:
        return str(self.config.get("corpus") or "shakespeare")

    @property
    def is_default(self) -> bool:
        return self.path is not None and Path(self.path).resolve() == DEFAULT_CHECKPOINT.resolve()

    @property
    def name(self) -> str:
        """"default", "smollm2", "minilm", or the folder's or file's name."""
        return str(self.config.get("name") or (Path(self.path).name if self.path else "run"))

    @property
    def architecture(self) -> str:
        return str(self.config.get("architecture") or "txe-gpt")

    @property
    def objective(self) -> str:
        """"next" (next-token prediction) or "mlm" (a masked language model: engine.mlm)."""
        return str(self.config.get("objective") or getattr(self.model, "objective", "next") or "next")

    @property
    def chat(self) -> bool:
        """An instruct model (it has a chat template: engine.chat works on it)."""
        return bool(self.config.get("chat_template"))

    def describe(self) -> dict[str, Any]:
        """Plain facts for the GUI thread (which never touches the model itself)."""
        c, tok = self.model.cfg, self.tokenizer
        return {"L": c.L, "H": c.H, "d": c.d, "d_k": c.d_k, "m": c.m, "context": c.context,
                "positional": c.positional, "norm": c.norm, "activation": c.activation,
                "tokenizer": tok.kind, "vocab_size": c.vocab_size,
                "parameters": self.model.num_parameters(), "corpus": self.corpus,
                "name": self.name, "architecture": self.architecture, "title": self.config.get("title") or self.name,
                "H_kv": c.kv_heads, "causal": c.causal, "lm_head": self.model.has_lm_head, "chat": self.chat,
                "norm_kind": c.norm_kind, "mlp": c.mlp, "start_tokens": len(tok.prefix_ids),
                "objective": self.objective}

    def frozen(self) -> ModelHandle:
        """The same weights, no longer tied to a run (after the run has ended)."""
        step = self.step
        return ModelHandle(self.model, self.tokenizer, {**self.config, "step": step}, self.path)


def open_model(spec: str | Path | None) -> ModelHandle:
    """A model as a handle: a name ("default", "smollm2", "minilm"), a checkpoint or Hugging Face folder, or a
    .gguf file (the embedded default model when ``spec`` is None); see :func:`engine.models.open_model`."""
    from engine.models import open_model as open_any

    loaded = open_any(spec)
    return ModelHandle(loaded.model, loaded.tokenizer, loaded.config, loaded.path)


def run_handle(trainer: Any) -> ModelHandle:
    """The live model of a training run (engine.training.Trainer)."""
    cfg = trainer.cfg
    return ModelHandle(trainer.model, trainer.tokenizer, {"corpus": cfg.corpus, "step": trainer.step,
                                                          "objective": getattr(cfg, "objective", "next")},
                       Path(cfg.out) if cfg.out else None, trainer)


class Workspace:
    """Engine-thread caches the views share: open models, vocabularies with corpus counts, comparison
    tokenizers."""

    KEEP = 8  # vocabularies kept (least recently used go first)
    KEEP_MODELS = 3  # models kept open: picking one again is instant, and memory stays bounded

    def __init__(self) -> None:
        self._models: OrderedDict[tuple[str, tuple[int, ...]], ModelHandle] = OrderedDict()
        # (id of the tokenizer, corpus) -> (the tokenizer, kept alive so its id is not reused; its vocabulary)
        self._vocab: OrderedDict[tuple[int, str], tuple[Tokenizer, Vocabulary]] = OrderedDict()

    def vocabulary_of(self, tok: Tokenizer, corpus: str) -> Vocabulary:
        """The tokenizer's vocabulary with its counts in ``corpus``, cached per tokenizer and corpus (the
        Tokens and Embeddings views share it). A corpus not on this machine gives ids without counts."""
        key = (id(tok), corpus)
        if key not in self._vocab:
            try:
                vocab = vocabulary(tok, load_corpus(corpus).text)
            except UserError:
                vocab = vocabulary(tok, "")
            self._vocab[key] = (tok, vocab)
            while len(self._vocab) > self.KEEP:
                self._vocab.popitem(last=False)
        self._vocab.move_to_end(key)
        return self._vocab[key][1]

    def open(self, path: str | Path | None) -> ModelHandle:
        """:func:`open_model`, cached by folder (or file) while its files are unchanged (a re-saved run is read
        again). ``path`` may also be a model's name ("smollm2")."""
        from engine.models.registry import resolve

        try:
            where, _ = resolve(path)
            folder = where.resolve()
            files = sorted(folder.iterdir()) if folder.is_dir() else [folder]
            stamp = tuple(f.stat().st_mtime_ns for f in files if f.is_file())
        except (OSError, UserError):
            return open_model(path)  # missing, not a folder, ...: open_model says what is wrong
        key = (str(folder), stamp)
        if key not in self._models:
            self._models[key] = open_model(path)
            while len(self._models) > self.KEEP_MODELS:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return self._models[key]

    def model_counts(self, handle: ModelHandle) -> Any:
        """Corpus counts of the handle's tokens, None when its corpus is not here."""
        counts = self.vocabulary_of(handle.tokenizer, handle.corpus).counts
        return counts if counts.any() else None

    def tokenizer(self, handle: ModelHandle, kind: str, corpus: str) -> tuple[Tokenizer, str]:
        """The model's own tokenizer (``kind`` "model"), or one of ``kind`` trained on ``corpus``; and the
        corpus its counts are taken from."""
        if kind == "model":
            return handle.tokenizer, handle.corpus
        return tokenizer_for(corpus, kind), corpus


def next_run_folder(parent: str | Path = "runs", prefix: str = "run") -> Path:
    """The first ``parent/prefix-N`` that does not exist yet (a new run never lands on an old one)."""
    base = Path(parent)
    taken = set()
    if base.is_dir():
        for p in base.iterdir():
            name = p.name.lstrip(".")
            head, _, n = name.partition("-")
            if head == prefix and n.split(".")[0].isdigit():
                taken.add(int(n.split(".")[0]))
    n = 1
    while n in taken or (base / f"{prefix}-{n}").exists():
        n += 1
    return base / f"{prefix}-{n}"
