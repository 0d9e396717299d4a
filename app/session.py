"""What the app is looking at: the model (loaded or being trained) and the corpus.

The model object is only ever used inside the engine thread (the bridge's functions read these fields
when they run there); the GUI thread reads the plain descriptive fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.checkpoint import DEFAULT_CHECKPOINT
from engine.corpus import load_corpus
from engine.errors import UserError
from engine.model import GPT
from engine.tokenizers import Tokenizer
from engine.tokenstats import Vocabulary, vocabulary


@dataclass
class Session:
    model: GPT | None = None
    tokenizer: Tokenizer | None = None
    checkpoint: Path | None = None  # where it was loaded from (None while training an unsaved run)
    corpus: str = "shakespeare"
    config: dict[str, Any] = field(default_factory=dict)
    trainer: Any = None  # engine.training.Trainer while a run is active
    vocab_cache: dict[int, Any] = field(default_factory=dict)

    def vocabulary_of(self, tok: Tokenizer, corpus: str) -> Vocabulary:
        """The tokenizer's vocabulary with its counts in ``corpus``, cached per tokenizer (engine thread;
        the Tokens and Embeddings views share it). A corpus not on this machine gives ids without counts."""
        key = id(tok)
        if key not in self.vocab_cache:
            try:
                self.vocab_cache[key] = vocabulary(tok, load_corpus(corpus).text)
            except UserError:
                self.vocab_cache[key] = vocabulary(tok, "")
        return self.vocab_cache[key]

    def describe(self, live_step: int | None = None) -> str:
        """The side panel's text; ``live_step`` is the newest step the GUI has seen of a running training."""
        if self.model is None:
            return "no model"
        c = self.model.cfg
        if self.checkpoint is None:
            where = "(training, unsaved)"
        elif Path(self.checkpoint).resolve() == DEFAULT_CHECKPOINT.resolve():
            where = "the embedded default model (assets/default-model)"
        else:
            where = str(self.checkpoint)
        if self.trainer is not None and self.checkpoint is not None:
            where += " (training)"
        step = self.config.get("step", 0) if live_step is None else live_step
        tok = self.tokenizer.kind if self.tokenizer else "?"
        return (f"<b>Model</b><br>{where}<br>L={c.L} layers, H={c.H} heads, d={c.d}, d_k={c.d_k}, m={c.m}<br>"
                f"context T={c.context}, {c.positional} positions, {c.norm}-LN, {c.activation}<br>"
                f"{tok} tokenizer, V={c.vocab_size}<br>{self.model.num_parameters():,} parameters"
                f"<br>step {step:,}<br><br><b>Corpus</b><br>{self.corpus}")
