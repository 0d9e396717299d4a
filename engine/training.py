"""Training as a plain generator of events, with no Qt (the GUI wraps the same generator).

``Trainer(cfg).run(token)`` yields :class:`Progress` after every step, :class:`Evaluation` every
``eval_every`` steps, :class:`Snapshot` (attention on a fixed probe sentence) every ``snapshot_every``
steps, :class:`Saved` after each autosave, and one :class:`Finished`. The loop is the usual one:
AdamW, linear warm-up then cosine decay, gradient clipping, the cross-entropy of next-token prediction
(seed 000: a language model parameterises p(x_{t+1} | x_t, ..., x_1)).

Every training window starts with ``<|bos|>``: x = [bos, w_0 .. w_{T-2}], y = [w_0 .. w_{T-1}], so the
model also learns p(first token | start), which sentence scoring needs.

``objective="mlm"`` trains a masked language model instead (seed 001, "Masking", Figure 11.5; engine.mlm):
a bidirectional model (``causal=False``, unembedding kept), a tokenizer with ``[MASK]`` (BPE unless
another is chosen), windows [bos, w_0 .. w_{T-2}] with no shift, about 15% of their tokens chosen and
corrupted (80% [MASK], 10% random, 10% kept) and the cross-entropy on the chosen positions only;
evaluations add ``val_accuracy``, the masked-token accuracy on fixed masked validation batches.

Runs are seeded and reproducible: the same config gives the same losses, and a run resumed from a
checkpoint continues exactly as if it had not stopped (model, optimizer and sampler states are saved).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.checkpoint import (
    clean_leftovers,
    has_checkpoint,
    is_checkpoint,
    load_checkpoint,
    load_training_state,
    read_config,
    recover,
    save_checkpoint,
)
from engine.corpus import Corpus, open_corpus
from engine.distributed import World
from engine.errors import RunExists, UserError
from engine.events import Evaluation, Event, Finished, Paused, Progress, Saved, Snapshot
from engine.files import check_output
from engine.live import LiveLog
from engine.mlm import MASK, MaskedBatches, masked_accuracy
from engine.model import GPT, MAX_CONTEXT, MAX_HEADS, MAX_LAYERS, MAX_VOCAB, MAX_WIDTH, ModelConfig, Probe
from engine.tasks import CancelToken
from engine.tokenfile import token_file
from engine.tokenizers import KINDS, Tokenizer
from engine.trainstate import MAX_STEPS, check_optimizer_state, check_trainer_state
from engine.validate import MAX_SEED, choice, flag_bool, real, shown, text, whole

__all__ = ["PROBE_TEXT", "AttentionProbe", "Batches", "Evaluation", "Finished", "Paused", "Progress", "RunExists",
           "Saved", "Snapshot", "TrainConfig", "Trainer", "check_resume", "lr_at", "prepare_out", "probe_attention"]

PROBE_TEXT = "To be, or not to be: that is the question."
OBJECTIVES = ("next", "mlm")  # next-token prediction (GPT) | masked language model (BERT; engine.mlm)


@dataclass
class TrainConfig:
    corpus: str = "shakespeare"
    tokenizer: str = "char"  # the CLI takes "bpe" for objective "mlm" when none is given
    vocab_size: int = 0  # 0: every character / word; BPE defaults to 1024
    tokenizer_from: str = ""  # a checkpoint folder or model name whose tokenizer is used (no new one is trained)
    objective: str = "next"  # "next" (next-token prediction) | "mlm" (masked language model, engine.mlm)
    split: str = "auto"  # "play" | "block" | "auto" (see engine.corpus)
    val_fraction: float = 0.1
    # model (names as in the lecture)
    context: int = 64
    d: int = 128
    H: int = 4
    L: int = 4
    m: int = 0
    positional: str = "learned"
    norm: str = "pre"
    activation: str = "gelu"
    tied: bool = True
    dropout: float = 0.0
    # optimisation
    batch: int = 12
    steps: int = 2000
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    seed: int = 1337
    # observation and saving
    eval_every: int = 250
    eval_batches: int = 20
    snapshot_every: int = 50  # 0: no probe snapshots
    probe_text: str = PROBE_TEXT
    autosave_every: int = 500  # 0: save only at the end
    out: str = ""  # checkpoint folder ("" : nothing saved)
    weights_only: bool = False  # the final save drops optimizer state (smaller; cannot be resumed)
    live: bool = True  # with out: write the live log OUT.live/ that another process can follow (engine.live)

    def model_config(self, vocab_size: int) -> ModelConfig:
        return ModelConfig(vocab_size=vocab_size, context=self.context, d=self.d, H=self.H, L=self.L, m=self.m,
                           positional=self.positional, norm=self.norm, activation=self.activation,
                           tied=self.tied, dropout=self.dropout, causal=self.objective != "mlm")

    def validate(self) -> None:
        """Check every field's type and range (see :data:`LIMITS`); one UserError naming the first bad one."""
        where = "training settings"
        text(self.corpus, "corpus", where)
        text(self.out, "out", where)
        text(self.probe_text, "probe_text", where)
        text(self.tokenizer_from, "tokenizer_from", where)
        choice(self.objective, "objective", OBJECTIVES, where)
        if self.tokenizer not in KINDS:
            raise UserError(f"unknown tokenizer {self.tokenizer!r}; use one of {', '.join(KINDS)}")
        choice(self.split, "split", ("auto", "play", "block"), where)
        choice(self.positional, "positional", ("learned", "sinusoidal"), where)
        choice(self.norm, "norm", ("pre", "post"), where)
        choice(self.activation, "activation", ("gelu", "relu"), where)
        flag_bool(self.tied, "tied", where)
        flag_bool(self.weights_only, "weights_only", where)
        flag_bool(self.live, "live", where)
        for name, (lo, hi) in INT_LIMITS.items():
            whole(getattr(self, name), name, lo, hi, where)
        if 0 < self.vocab_size < 3:
            raise UserError(f"{where}: vocab_size must be 0 (every token) or at least 3 (got {self.vocab_size})")
        for name, (lo, hi, lo_open, hi_open) in FLOAT_LIMITS.items():
            setattr(self, name, real(getattr(self, name), name, lo, hi, where, lo_open, hi_open))
        if self.min_lr > self.lr:
            raise UserError(f"{where}: min_lr {self.min_lr:g} is above lr {self.lr:g}")


# What each numeric setting may be (the CLI's flags use the same ranges).
INT_LIMITS: dict[str, tuple[int, int]] = {
    "vocab_size": (0, MAX_VOCAB), "context": (1, MAX_CONTEXT), "d": (1, MAX_WIDTH), "H": (1, MAX_HEADS),
    "L": (1, MAX_LAYERS), "m": (0, 4 * MAX_WIDTH), "batch": (1, 65_536), "steps": (1, MAX_STEPS),
    "warmup": (0, MAX_STEPS), "seed": (0, MAX_SEED), "eval_every": (0, MAX_STEPS), "eval_batches": (1, 100_000),
    "snapshot_every": (0, MAX_STEPS), "autosave_every": (0, MAX_STEPS),
}
# name: (low, high, low end open, high end open)
FLOAT_LIMITS: dict[str, tuple[float, float, bool, bool]] = {
    "val_fraction": (0.0, 1.0, False, True), "dropout": (0.0, 1.0, False, True), "lr": (0.0, 10.0, True, False),
    "min_lr": (0.0, 10.0, False, False), "weight_decay": (0.0, 10.0, False, False),
    "beta1": (0.0, 1.0, False, True), "beta2": (0.0, 1.0, False, True), "grad_clip": (0.0, 1e6, False, False),
}
# Settings a resumed run may change; every other one must match the checkpoint's (see check_resume).
CHANGEABLE_ON_RESUME = ("steps", "lr", "min_lr", "warmup", "grad_clip", "eval_every", "eval_batches",
                        "snapshot_every", "probe_text", "autosave_every", "out", "weights_only", "live")
# A first guess of the vocabulary, to refuse an absurd model before the corpus is read.
VOCAB_GUESS = {"char": 100, "word": 1_000, "bpe": 1_024}


# --- events (engine.events) -------------------------------------------------------------------
#
# Progress.metrics: loss, lr, tokens_per_s; Evaluation.metrics: train_loss, val_loss; Snapshot.data: an
# AttentionProbe of the probe text; Finished.summary: see Trainer.summary.


@dataclass
class AttentionProbe:
    """The model's attention on the probe text at one step (the Attention view follows a run with it)."""

    text: str
    tokens: list[str]
    attention: np.ndarray  # (L, H, T, T) float32, a copy safe to hand to another thread
    scores: np.ndarray  # (L, H, T, T) float32, q.k / sqrt(d_k) with -inf where masked
    # previous_token, first_token, duplicate_token, induction -> (L, H) (engine.interp.heads; HEAD_PROBE)
    head_scores: dict[str, np.ndarray] | None = None


# --- data -------------------------------------------------------------------------------------


class Batches:
    """Random windows of a token stream, each led by <|bos|> (see the module docstring).

    ``ids`` may be a memory-mapped token file (:mod:`engine.tokenfile`): only the sampled windows are read.
    """

    def __init__(self, ids: np.ndarray, context: int, batch: int, bos: int) -> None:
        if len(ids) < context + 1:
            raise UserError(f"the text has {len(ids)} tokens; training needs more than the context ({context})")
        self.ids = ids
        self.T, self.B, self.bos = context, batch, bos

    def sample(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(len(self.ids) - self.T, (self.B,), generator=gen)
        windows = np.stack([self.ids[s:s + self.T] for s in starts.tolist()]).astype(np.int64)
        y = torch.from_numpy(windows)  # (B, T)
        x = torch.empty_like(y)
        x[:, 0] = self.bos
        x[:, 1:] = y[:, :-1]
        return x, y


def prepare_data(cfg: TrainConfig, tokenizer: Tokenizer | None) -> tuple[Tokenizer, np.ndarray, np.ndarray]:
    """(tokenizer, training ids, validation ids). Shakespeare is split by play in memory, as always; a
    plain file is streamed: the tokenizer is trained on its pieces and the ids go to a memory-mapped
    token file, so memory stays bounded whatever the corpus size (``tokenizer`` given: a resumed run's)."""
    source = open_corpus(cfg.corpus)
    extra = [MASK] if cfg.objective == "mlm" else []
    if isinstance(source, Corpus):
        train_text, val_text = source.split(cfg.val_fraction, cfg.split)
        tokenizer = tokenizer or Tokenizer.train(cfg.tokenizer, [train_text], cfg.vocab_size, extra_specials=extra)
        return tokenizer, tokenizer.encode_ids(train_text), tokenizer.encode_ids(val_text)
    if cfg.split == "play":
        raise UserError("this corpus has no plays to split by; use --split block")
    cut = source.split_point(cfg.val_fraction)
    tokenizer = tokenizer or Tokenizer.train(cfg.tokenizer, source.pieces(0, cut), cfg.vocab_size,
                                             extra_specials=extra)
    tokens = token_file(source, tokenizer, cut)
    return tokenizer, tokens.train, tokens.val


def tokenizer_from(cfg: TrainConfig) -> Tokenizer:
    """The tokenizer of the checkpoint ``cfg.tokenizer_from`` names (a folder or a model name), for a run
    that must share another's vocabulary (default-bpe, the causal twin of default-mlm); ``cfg.tokenizer``
    and ``cfg.vocab_size`` are set to what it is, so the saved settings say it."""
    from engine.models.registry import resolve

    path, _ = resolve(cfg.tokenizer_from)
    if not (path / "tokenizer.json").is_file():
        raise UserError(f"--tokenizer-from {cfg.tokenizer_from[:200]}: no tokenizer.json there")
    tok = Tokenizer.load(path / "tokenizer.json")
    if cfg.objective == "mlm" and tok.mask_id is None:
        raise UserError(f"--tokenizer-from {cfg.tokenizer_from[:200]}: its tokenizer has no {MASK} token, which "
                        "the masked objective needs")
    cfg.tokenizer, cfg.vocab_size = tok.kind, tok.vocab_size
    return tok


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr`` at the last step."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def probe_attention(model: GPT, tokenizer: Tokenizer, text: str) -> AttentionProbe:
    """Attention weights and scores (L, H, T, T) on ``text`` led by <|bos|>, cut to the context."""
    ids = [tokenizer.bos_id] + tokenizer.encode(text).ids
    ids = ids[: model.cfg.context]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        _, _, trace = model(torch.tensor([ids]), probe=Probe(scores=True))
    model.train(was_training)
    att = trace.stacked_attention()[0].float().numpy().copy()  # (L, H, T, T)
    scores = torch.stack(trace.scores, dim=1)[0].float().numpy().copy()
    return AttentionProbe(text, [tokenizer.token_text(i) for i in ids], att, scores)


HEAD_PROBE = {"n": 20, "batch": 4, "seed": 0}  # the head scores' probe data at each snapshot: small, so cheap


def snapshot_head_scores(model: GPT, tokenizer: Tokenizer) -> dict[str, np.ndarray]:
    """The four head scores of :mod:`engine.interp.heads` (name -> (L, H) float64) on a small fixed probe
    batch: how the previous-token, first-token, duplicate and induction heads form over training."""
    from engine.interp.heads import head_scores

    n = min(HEAD_PROBE["n"], (model.cfg.context - len(tokenizer.prefix_ids)) // 2)
    if n < 2:
        return {}
    was_training = model.training
    model.eval()
    try:
        return head_scores(model, tokenizer, n=n, batch=HEAD_PROBE["batch"], seed=HEAD_PROBE["seed"]).scores
    finally:
        model.train(was_training)


def prepare_out(out: Path, resume: bool, overwrite: bool) -> bool:
    """Check the output folder before any work: a run there is continued only with ``resume`` and
    replaced only with ``overwrite`` (:class:`RunExists` otherwise), what a crash left is recovered or
    removed, and a file is written and removed to prove the folder can take the saves. Returns whether
    there is a run to resume."""
    if resume and overwrite:
        raise UserError("choose --resume (continue the run) or --overwrite (replace it), not both")
    check_output(out, "--out", folder=True)  # saves write a sibling of the folder, then rename it
    where = recover(out)  # a copy a crash left at .DIR.old becomes the run again
    exists = has_checkpoint(out)
    if exists and not resume and not overwrite:
        try:
            step = read_config(where).get("step")
        except UserError:
            step = None
        raise RunExists(str(out), step if isinstance(step, int) else None)
    if resume and not exists:
        raise UserError(f"nothing to resume: {out} holds no checkpoint")
    if out.is_dir() and not is_checkpoint(out) and any(out.iterdir()):
        raise UserError(f"--out {out} exists and is not a checkpoint; choose a new or empty folder")
    clean_leftovers(out)
    return exists and resume


def check_resume(saved: dict[str, Any], model_cfg: ModelConfig, cfg: TrainConfig) -> None:
    """A resumed run keeps every setting of the checkpoint except :data:`CHANGEABLE_ON_RESUME`; a
    different value is refused with the setting's name (it would be silently ignored otherwise)."""
    def refuse(key: str, have: Any, asked: Any) -> None:
        raise UserError(f"cannot resume: the checkpoint has {key}={shown(have)}, the command asks for {shown(asked)} "
                        f"(only {', '.join(CHANGEABLE_ON_RESUME[:-3])} may change when resuming)")

    for key, value in saved.items():
        if key in CHANGEABLE_ON_RESUME or not hasattr(cfg, key):
            continue
        asked = getattr(cfg, key)
        if value != asked and not (isinstance(asked, float) and isinstance(value, int | float)
                                   and not isinstance(value, bool) and float(value) == asked):
            refuse(key, value, asked)
    ours = cfg.model_config(model_cfg.vocab_size)
    for key in ("context", "d", "H", "L", "m", "positional", "norm", "activation", "tied", "dropout"):
        if getattr(model_cfg, key) != getattr(ours, key):
            refuse(key, getattr(model_cfg, key), getattr(ours, key))


def read_head_history(raw: Any, cfg: ModelConfig) -> dict[str, list]:
    """The head scores of a saved run (trainer.json ``head_scores``), or an empty history when they are
    missing or do not fit the model (an older run, a file edited by hand): they are only for viewing."""
    from engine.interp.heads import SCORES

    empty: dict[str, list] = {"step": []}
    if not isinstance(raw, dict) or not isinstance(raw.get("step"), list):
        return empty
    steps = raw["step"]
    try:
        arrays = {k: np.asarray(raw[k], dtype=np.float64) for k in SCORES}
    except (KeyError, TypeError, ValueError):
        return empty
    if any(a.shape != (len(steps), cfg.L, cfg.H) for a in arrays.values()):
        return empty
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in steps):
        return empty
    return {"step": list(steps), **{k: a.tolist() for k, a in arrays.items()}}


class Trainer:
    """Holds the model, optimizer and data of one run; ``run()`` is the training generator.

    With ``cfg.out`` naming a folder that already holds a run, ``resume=True`` continues it and
    ``overwrite=True`` replaces it (at the first save; until then the old run is untouched); with
    neither, :class:`RunExists` is raised before anything else is done.
    """

    def __init__(self, cfg: TrainConfig, resume: bool = False, overwrite: bool = False,
                 world: World | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.world = world = world or World()
        if world.distributed and cfg.batch % world.size:
            raise UserError(f"--batch {cfg.batch} does not split over {world.size} processes: give a multiple of "
                            f"{world.size} (it is the global batch)")
        out = Path(cfg.out) if cfg.out else None
        if out is None and resume:
            raise UserError("nothing to resume: no checkpoint folder (--out) given")
        # the folder is rank 0's to prepare (engine.distributed.World.main_first: the others come after it)
        if out is None:
            resuming = False
        elif world.is_main:
            resuming = prepare_out(out, resume, overwrite)
        else:
            resuming = resume and has_checkpoint(out)
        loaded = None
        if resuming:
            loaded = load_checkpoint(out)
            check_resume(loaded.config.get("train") or {}, loaded.model.cfg, cfg)
        else:  # refuse an absurd model before the corpus is read
            guess = cfg.vocab_size or VOCAB_GUESS[cfg.tokenizer]
            cfg.model_config(guess).check_size("training", cfg.batch)
        given = loaded.tokenizer if loaded else (tokenizer_from(cfg) if cfg.tokenizer_from else None)
        self.tokenizer, train_ids, val_ids = prepare_data(cfg, given)
        if cfg.objective == "mlm" and self.tokenizer.mask_id is None:
            raise UserError(f"the tokenizer has no {MASK} token; the masked objective needs one")
        if loaded is not None:
            self.model = loaded.model
        else:
            model_cfg = cfg.model_config(self.tokenizer.vocab_size)
            model_cfg.check_size("training", cfg.batch)
            torch.manual_seed(cfg.seed)
            self.model = GPT(model_cfg)
        self.model.objective = cfg.objective
        self.ddp: torch.nn.parallel.DistributedDataParallel | None = None  # made by run(), on every rank at once
        self.val_ids = val_ids
        if cfg.objective == "mlm":
            self.train_data = MaskedBatches(train_ids, cfg.context, cfg.batch, self.tokenizer)
            self.val_data = (MaskedBatches(val_ids, cfg.context, cfg.batch, self.tokenizer)
                             if len(val_ids) > cfg.context else None)
        else:
            self.train_data = Batches(train_ids, cfg.context, cfg.batch, self.tokenizer.bos_id)
            self.val_data = (Batches(val_ids, cfg.context, cfg.batch, self.tokenizer.bos_id)
                             if len(val_ids) > cfg.context else None)
        self.optimizer = self._make_optimizer()
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self.history: dict[str, list] = {"step": [], "loss": [], "eval_step": [], "train_loss": [], "val_loss": []}
        if cfg.objective == "mlm":
            self.history["val_accuracy"] = []
        self.head_history: dict[str, list] = {"step": []}  # step, and name -> [(L, H) lists], one per snapshot
        self.first_loss: float | None = None
        self.train_seconds = 0.0
        self.tokens_seen = 0
        if resuming:
            self._restore(out)

    def _restore(self, out: Path) -> None:
        """Optimizer, sampler and trainer state of the checkpoint in ``out``, each checked."""
        limit = 3 * 4 * self.model.num_parameters() + 2**24
        opt_raw, trainer_raw = load_training_state(out, max_optimizer_bytes=limit)
        if opt_raw is None or trainer_raw is None:
            raise UserError(f"{out} has weights but no training state; it cannot be resumed")
        where = recover(out)
        opt_state, rng = check_optimizer_state(opt_raw, self.optimizer, f"{where}/optimizer.pt")
        state = check_trainer_state(trainer_raw, f"{where}/trainer.json")
        try:
            self.optimizer.load_state_dict(opt_state)
        except (ValueError, KeyError, RuntimeError, TypeError) as e:
            raise UserError(f"{where}/optimizer.pt does not fit this model ({str(e).splitlines()[0][:80]})") from None
        self.gen.set_state(rng)
        self.step = state["step"]
        self.history = state["history"]
        if self.cfg.objective == "mlm":
            self.history["val_accuracy"] = [float(a) for a in trainer_raw.get("val_accuracy", [])
                                            if isinstance(a, int | float) and not isinstance(a, bool)]
        self.head_history = read_head_history(trainer_raw.get("head_scores"), self.model.cfg)
        self.first_loss = state["first_loss"]
        self.train_seconds = state["train_seconds"]
        self.tokens_seen = state["tokens_seen"]
        if self.step >= self.cfg.steps:
            raise UserError(f"the run in {out} already reached step {self.step}; ask for more --steps")

    def _make_optimizer(self) -> torch.optim.AdamW:
        decay = [p for p in self.model.parameters() if p.dim() >= 2]  # matrices, not biases and norms
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": self.cfg.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return torch.optim.AdamW(groups, lr=self.cfg.lr, betas=(self.cfg.beta1, self.cfg.beta2))

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        """Mean loss over ``eval_batches`` fixed batches of the train and the validation text."""
        self.model.eval()
        losses = []
        for data in (self.train_data, self.val_data):
            if data is None:
                losses.append(float("nan"))
                continue
            gen = torch.Generator().manual_seed(self.cfg.seed + 1)  # the same batches at every evaluation
            total = 0.0
            for _ in range(self.cfg.eval_batches):
                x, y = data.sample(gen)
                total += self.model(x, y)[1].item()
            losses.append(total / self.cfg.eval_batches)
        self.model.train()
        return losses[0], losses[1]

    def save(self, path: str | Path | None = None, weights_only: bool = False) -> Path:
        if not (path or self.cfg.out):
            raise UserError("no checkpoint folder given")
        history = {k: v for k, v in self.history.items() if k != "val_accuracy"}
        trainer_state = {"step": self.step, "history": history, "first_loss": self.first_loss,
                         "train_seconds": self.train_seconds, "tokens_seen": self.tokens_seen}
        if "val_accuracy" in self.history:
            trainer_state["val_accuracy"] = self.history["val_accuracy"]
        if self.head_history["step"]:
            trainer_state["head_scores"] = self.head_history
        return save_checkpoint(
            Path(path or self.cfg.out), self.model, self.tokenizer,
            extra={"step": self.step, "train": asdict(self.cfg), "corpus": self.cfg.corpus,
                   "objective": self.cfg.objective, "summary": self.summary()},
            optimizer_state=None if weights_only else {"optimizer": self.optimizer.state_dict(),
                                                       "rng": self.gen.get_state()},
            trainer_state=None if weights_only else trainer_state)

    def summary(self) -> dict[str, Any]:
        val = self.history["val_loss"][-1] if self.history["val_loss"] else None
        extra: dict[str, Any] = {}
        if self.cfg.objective == "mlm":
            acc = self.history["val_accuracy"]
            extra = {"objective": "mlm", "val_accuracy": acc[-1] if acc else None}
        return {**extra, "steps": self.step, "first_loss": self.first_loss,
                "final_loss": self.history["loss"][-1] if self.history["loss"] else None,
                "val_loss": val, "tokens_per_s": self.tokens_seen / self.train_seconds if self.train_seconds else 0.0,
                "train_seconds": self.train_seconds, "parameters": self.model.num_parameters(),
                "vocab_size": self.tokenizer.vocab_size, "checkpoint": str(self.cfg.out) if self.cfg.out else None}

    def run(self, token: CancelToken | None = None) -> Iterator[Event]:
        """Train to ``cfg.steps`` (see _train); rank 0 of a run with ``cfg.out`` also writes every event to the
        run's live log beside the checkpoint (engine.live), for a process that follows the run."""
        log = None
        if self.cfg.out and self.world.is_main and self.cfg.live:
            try:
                log = LiveLog(self.cfg.out, asdict(self.cfg), self.step > 0, self.step)
            except OSError:
                log = None  # the log is for watchers; the run and its checkpoints do not depend on it
        try:
            for event in self._train(token):
                if log is not None:
                    try:
                        log.event(event, self.cfg.steps)
                    except OSError:
                        log.close()
                        log = None
                yield event
        finally:
            if log is not None:
                log.close()

    def _train(self, token: CancelToken | None = None) -> Iterator[Event]:
        cfg, model = self.cfg, self.model
        token = token or CancelToken()
        model.train()
        tokens_per_step = cfg.batch * cfg.context
        smoothed_rate = 0.0
        stopped = False
        world = self.world
        if world.distributed and self.ddp is None:
            # DDP averages the gradients of the processes' slices of the batch in the backward pass; its
            # constructor is a collective, so it is made here, where every rank is, not in __init__ (rank 0 first)
            self.ddp = torch.nn.parallel.DistributedDataParallel(model)
        forward, main = self.ddp or model, world.is_main
        stop_asked = False  # with several processes: a stop any of them was asked at the last step, agreed by all
        while self.step < cfg.steps:
            if token.paused:
                yield Paused(self.step)
                token.wait_if_paused()
            if stop_asked if world.distributed else token.cancelled:
                stopped = True
                break
            t0 = time.perf_counter()
            lr = lr_at(self.step, cfg)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            x, y = self.train_data.sample(self.gen)  # the global batch: every process draws the same
            if world.distributed:
                rows = world.shard(x.shape[0])
                x, y = x[rows], y[rows]
            _, loss, _ = forward(x, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            if world.distributed:  # one collective for both: the mean loss, and whether any process must stop
                loss_sum, stops = world.total([loss.item(), 1.0 if token.cancelled else 0.0])
                loss_value, stop_asked = loss_sum / world.size, stops > 0
            else:
                loss_value = loss.item()
            dt = time.perf_counter() - t0
            self.step += 1
            self.train_seconds += dt
            self.tokens_seen += tokens_per_step
            if self.first_loss is None:
                self.first_loss = loss_value
            self.history["step"].append(self.step)
            self.history["loss"].append(loss_value)
            rate = tokens_per_step / dt
            smoothed_rate = rate if smoothed_rate == 0 else 0.9 * smoothed_rate + 0.1 * rate
            eta = (cfg.steps - self.step) * tokens_per_step / smoothed_rate
            yield Progress(self.step, cfg.steps, self.train_seconds, eta,
                           {"loss": loss_value, "lr": lr, "tokens_per_s": smoothed_rate})
            if not main:  # evaluations, snapshots and saves are rank 0's
                continue
            if cfg.eval_every and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
                yield self._evaluation()
            if cfg.snapshot_every and (self.step % cfg.snapshot_every == 0 or self.step == 1):
                yield Snapshot(self.step, self._snapshot())
            if cfg.out and cfg.autosave_every and self.step % cfg.autosave_every == 0 and self.step < cfg.steps:
                yield Saved(self.step, str(self.save()))
        if main and (not self.history["eval_step"] or self.history["eval_step"][-1] != self.step):
            if self.step > 0:
                yield self._evaluation()
        if main and cfg.out and self.step > 0:
            yield Saved(self.step, str(self.save(weights_only=cfg.weights_only and not stopped)))
        yield Finished({**self.summary(), "stopped": stopped}, stopped)

    def _snapshot(self) -> AttentionProbe:
        """The probe text's attention, with the head scores (kept in ``head_history`` for the saved run)."""
        probe = probe_attention(self.model, self.tokenizer, self.cfg.probe_text)
        probe.head_scores = snapshot_head_scores(self.model, self.tokenizer)
        if probe.head_scores:
            self.head_history["step"].append(self.step)
            for name, m in probe.head_scores.items():
                self.head_history.setdefault(name, []).append(m.round(5).tolist())
        return probe

    def val_accuracy(self) -> float:
        """Masked-token accuracy on ``eval_batches`` fixed masked validation batches (objective "mlm")."""
        if self.val_data is None:
            return float("nan")
        return masked_accuracy(self.model, self.tokenizer, self.val_ids, self.cfg.eval_batches, self.cfg.context,
                               self.cfg.seed + 1, batch=self.cfg.batch)["accuracy"]

    def _evaluation(self) -> Evaluation:
        train_loss, val_loss = self.evaluate()
        self.history["eval_step"].append(self.step)
        self.history["train_loss"].append(train_loss)
        self.history["val_loss"].append(val_loss)
        metrics = {"train_loss": train_loss, "val_loss": val_loss}
        if self.cfg.objective == "mlm":
            metrics["val_accuracy"] = self.val_accuracy()
            self.history["val_accuracy"].append(metrics["val_accuracy"])
        return Evaluation(self.step, metrics)
