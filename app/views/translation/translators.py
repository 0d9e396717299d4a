"""What the Translation view computes, without Qt: the translators it offers, the example sentences, a
translation with its beam tree and the alignment of any node, and a training run that reports live.

Everything here runs in the engine thread (the view's jobs) except the plain-data helpers at the bottom
(:func:`path_alignment`, :func:`truth_cells`), which read the copies a job handed back.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.checkpoint import ASSETS
from engine.decoding.search import TreeState
from engine.seq2seq.data import ParallelData, file_data, grammar_data
from engine.seq2seq.decode import Translation, TranslationSearch, Translator, greedy
from engine.seq2seq.grammar import EXAMPLE, Grammar, Pair
from engine.seq2seq.models import family_of
from engine.seq2seq.train import TrainPoint, TrainResult, new_translator, train
from engine.tasks import Cancelled, CancelToken

# the shipped translators (assets/translator-ARCH), in the order the picker lists them
SHIPPED = ("transformer", "rnn-attention", "gru")
ARCH_NAMES = {"rnn": "plain RNN, no attention", "gru": "GRU, no attention", "lstm": "LSTM, no attention",
              "rnn-attention": "GRU + attention", "transformer": "transformer"}
EXAMPLE_LENGTHS = (12, 19, 26, 34)  # one held-out example per longer bucket, about this long


@dataclass(frozen=True)
class TranslatorRef:
    """A translator the view offers: where it comes from and what the user reads."""

    key: str  # the folder it was loaded from or saved to
    arch: str
    label: str
    detail: str = ""  # training facts, for the header and the picker's tooltip


def arch_name(arch: str, cell: str = "") -> str:
    if arch == "rnn-attention" and cell and cell != "gru":
        return f"{cell.upper() if cell != 'rnn' else 'plain RNN'} + attention"
    return ARCH_NAMES.get(arch, arch)


def describe_config(folder: Path, config: dict, origin: str) -> TranslatorRef:
    """A picker entry from a checkpoint's config.json (read in the GUI thread: a small JSON file)."""
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    info = config.get("train") if isinstance(config.get("train"), dict) else {}
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    arch = str(model.get("arch", "?"))
    facts = []
    if info.get("steps"):
        facts.append(f"{int(info['steps']):,} steps")
    if info.get("seconds"):
        facts.append(f"{float(info['seconds']) / 60:.1f} min of training")
    if isinstance(info.get("valid_exact_match"), int | float):
        facts.append(f"validation exact match {100 * float(info['valid_exact_match']):.0f}%")
    if data.get("kind") == "tsv":
        facts.append(f"on {Path(str(data.get('path', ''))).name}")
    label = f"{arch_name(arch, str(model.get('cell', '')))} ({origin})"
    return TranslatorRef(str(folder), arch, label, ", ".join(facts))


def read_config(folder: Path) -> dict | None:
    try:
        raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return raw if isinstance(raw, dict) and raw.get("format") == "txe-seq2seq" else None


def shipped_translators(assets: Path = ASSETS) -> list[TranslatorRef]:
    """The translators in ``assets/translator-ARCH`` (what the view opens on)."""
    out = []
    for arch in SHIPPED:
        folder = assets / f"translator-{arch}"
        config = read_config(folder) if folder.is_dir() else None
        if config is not None:
            out.append(describe_config(folder, config, "shipped"))
    return out


@dataclass(frozen=True)
class Example:
    """A sentence to pick: its text and, for the grammar's sentences, the reference and its true alignment."""

    text: str
    pair: Pair | None = None

    @property
    def label(self) -> str:
        n = len(self.text.split())
        return f"{n} words: {self.text if len(self.text) <= 60 else self.text[:57] + '...'}"


def examples(seed: int = 0) -> list[Example]:
    """The default sentence and held-out sentences of the grammar task (test set of ``seed``) of about
    :data:`EXAMPLE_LENGTHS` words: short, medium, long and one of 30+ words."""
    g = Grammar()
    out = [Example(EXAMPLE, g.example())]
    test = grammar_data(seed, valid=0).test
    for want in EXAMPLE_LENGTHS:
        best = min(test, key=lambda p: (abs(len(p.source) - want), p.src_text))
        out.append(Example(best.src_text, best))
    return out


def reference_of(text: str, known: list[Example]) -> Pair | None:
    words = text.lower().split()
    return next((e.pair for e in known if e.pair is not None and list(e.pair.source) == words), None)


# --- translating (engine thread) ---------------------------------------------------------------------


class Translators:
    """The translators loaded so far, by key (engine thread only)."""

    def __init__(self) -> None:
        self.loaded: dict[str, Translator] = {}

    def get(self, key: str) -> Translator:
        if key not in self.loaded:
            from engine.seq2seq.checkpoint import load_translator

            self.loaded[key] = load_translator(key)
        return self.loaded[key]

    def put(self, key: str, tr: Translator) -> None:
        self.loaded[key] = tr


@dataclass
class Translated:
    """What a translate job hands back: copies, safe in the GUI thread."""

    ref: TranslatorRef
    text: str
    source: list[str]
    unknown: list[str]
    state: TreeState
    alignments: dict[int, np.ndarray]  # node -> (L, H, S) attention row that chose its word
    has_attention: bool
    search: TranslationSearch | None = field(default=None, repr=False)  # lives on in the engine thread (forcing)


def translate(tr: Translator, ref: TranslatorRef, text: str, k: int, alpha: float,
              token: CancelToken | None = None) -> Translated:
    """Beam search of width ``k`` (k = 1: greedy) with the tree and every node's attention row."""
    search = TranslationSearch(tr, text, k=k, alpha=alpha)
    search.run(token)
    return translated(search, ref, text)


def translated(search: TranslationSearch, ref: TranslatorRef, text: str) -> Translated:
    return Translated(ref, text, list(search.source.words), list(search.source.unknown), search.state(),
                      {i: a.copy() for i, a in search.alignments.items()}, family_of(ref.arch) != "rnn", search)


# --- training (engine thread) ------------------------------------------------------------------------


@dataclass
class LiveTranslation:
    """The probe sentence translated (greedy) by the model being trained, at a validation."""

    step: int
    translation: Translation


@dataclass
class Trained:
    """A training job's end: the translator (saved in ``out``), how far it got, and why it ended."""

    ref: TranslatorRef
    translator: Translator | None
    result: TrainResult | None
    stopped: bool


class TrainControl:
    """Shared by the GUI and the training job: the sentence to translate at each validation and the Stop
    request (a stop, unlike a cancel, still delivers the saved translator)."""

    def __init__(self, probe: str) -> None:
        self._lock = threading.Lock()
        self._probe = probe
        self.stop = threading.Event()

    @property
    def probe(self) -> str:
        with self._lock:
            return self._probe

    @probe.setter
    def probe(self, text: str) -> None:
        with self._lock:
            self._probe = text


class _TrainRelay(CancelToken):
    """The token train() sees: the job's cancel and the view's Stop, and each point passed on; at a
    validation also the probe sentence translated by the model as it is."""

    def __init__(self, outer: CancelToken, control: TrainControl, tr: Translator) -> None:
        super().__init__()
        self.outer, self.control, self.tr = outer, control, tr

    def check(self) -> None:
        self.outer.check()
        if self.control.stop.is_set():
            raise Cancelled()

    def report(self, value: Any) -> None:
        self.outer.report(value)
        if isinstance(value, TrainPoint) and value.kind == "eval":
            model = self.tr.model
            was = model.training
            try:
                self.outer.report(LiveTranslation(value.step, greedy(self.tr, self.control.probe)))
            except Exception:  # noqa: BLE001 (a sentence this model cannot read: no live picture, training goes on)
                pass
            finally:
                model.train(was)


def load_training_data(tsv: str | None, seed: int = 0) -> ParallelData:
    return file_data(tsv, seed) if tsv else grammar_data(seed)


def run_training(token: CancelToken, control: TrainControl, arch: str, out: str, *, tsv: str | None = None,
                 steps: int = 0, minutes: float = 0.0, batch: int = 64, evals: int = 10, valid_size: int = 200,
                 seed: int = 0, data: ParallelData | None = None, **overrides: Any) -> Trained:
    """Train a new translator of ``arch`` into ``out`` (engine.seq2seq.train.train); a Stop ends it early,
    saved, and still returns it."""
    data = data if data is not None else load_training_data(tsv, seed)
    tr = new_translator(data, arch, seed, **overrides)
    relay = _TrainRelay(token, control, tr)
    ref = TranslatorRef(str(Path(out)), arch, f"{arch_name(arch, tr.model.cfg.cell)} (trained here)")
    try:
        result = train(data, arch, steps=steps, minutes=minutes, batch=batch, seed=seed, out=out, evals=evals,
                       valid_size=valid_size, translator=tr, token=relay)
    except Cancelled:
        token.check()  # a cancel (the window closing) ends here; a Stop goes on
        steps_done = int(tr.info.get("steps", 0) or 0)
        if not steps_done:
            return Trained(ref, None, None, True)
        return Trained(_with_facts(ref, tr), tr, None, True)
    return Trained(_with_facts(ref, tr), tr, result, False)


def _with_facts(ref: TranslatorRef, tr: Translator) -> TranslatorRef:
    info = tr.info
    facts = [f"{int(info.get('steps', 0)):,} steps", f"{float(info.get('seconds', 0)) / 60:.1f} min of training"]
    if isinstance(info.get("valid_exact_match"), int | float):
        facts.append(f"validation exact match {100 * float(info['valid_exact_match']):.0f}%")
    return TranslatorRef(ref.key, ref.arch, ref.label, ", ".join(facts))


# --- plain data (GUI thread) -------------------------------------------------------------------------


def path_nodes(state: TreeState, node: int) -> list[int]:
    """The nodes from the first target word to ``node`` (the root left out)."""
    path = []
    while node is not None and node > 0:
        path.append(node)
        node = state.nodes[node]["parent"]
    return path[::-1]


def path_alignment(result: Translated, node: int) -> tuple[list[str], np.ndarray | None]:
    """The target words (with ``<eos>``) of the hypothesis ending at ``node`` and its alignment (T, L, H, S),
    None without attention."""
    path = path_nodes(result.state, node)
    words = [result.state.nodes[i]["token"] for i in path]
    rows = [result.alignments.get(i) for i in path]
    if not path or any(r is None for r in rows):
        return words, None
    return words, np.stack(rows)  # type: ignore[arg-type]


def truth_cells(pair: Pair | None, target: list[str]) -> list[tuple[int, int]]:
    """The reference's true alignment (target row, source column) for the rows where the translation still
    follows the reference word for word (after the first difference, rows no longer correspond)."""
    if pair is None:
        return []
    cells = []
    for t, (word, ref_word) in enumerate(zip(target, pair.target, strict=False)):
        if word.lower() != ref_word.lower():
            break
        if pair.align[t] >= 0:
            cells.append((t, pair.align[t]))
    return cells

