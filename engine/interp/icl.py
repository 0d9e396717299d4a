"""In-context learning on repeated random segments: watch induction heads form (issue 15).

Seed 000 lists GPT-3's *few-shot learning* (Brown et al. 2020) and seed 003 sums it up as "Few-shots >
Zero-shots (shots = examples)": a model that does better the more examples its prompt holds is learning
from its context. The smallest place to see the mechanism is a sequence with a segment that repeats: the
first copy is random and cannot be predicted, the second can, but only by a model that looks back to the
earlier occurrence of the current token and copies the token that followed it, an *induction head*
("A B ... A -> B"; Olsson et al. 2022). A 2-layer attention model learns it: a previous-token head in
layer 0 writes "my predecessor is A" into each position, and a head in layer 1 matches it.

The task: ``[bos] + prefix + s + s + filler``, where s is a segment of n random symbols (n drawn from
``n_min..n_max`` per sequence, no symbol twice in a segment), the prefix (0..context-1-2n tokens) and the
filler are random symbols too; everything is seeded. The vocabulary is large (256 symbols) so that a token
seldom occurs by chance outside the segment (with 64, the attention was split between the true earlier
occurrence and chance ones). The default model follows Olsson et al. 2022: attention only (``mlp="none"``),
2 layers x 2 heads, d 64, with rotary positions, which make a previous-token head (a fixed relative offset)
quick to learn. Segment lengths vary from 2, and that matters: a model may instead match the token k + 1
back and copy the one k back, for any offset k (a rotary model trained on segments of 10-31 tokens did so
with k = 9, predicting the second copy well while every head's induction score stayed near 0); such a head
fails on segments shorter than k + 2, so short segments leave only the standard k = 0, the induction head.
The prefix is random, so a head that attends a fixed distance back cannot do the job, only one that matches
content. The model predicts every next token (the usual loss); what is watched, on sequences with 2
copies, is

- ``first_repeat_loss``: the mean loss on tokens 2..n of the first copy (random: about ln V);
- ``second_repeat_loss``: the same on tokens 2..n of the second copy (the first token of either copy
  follows a random token and cannot be predicted: counting it would put a floor of about ln V / n under
  the ratio below; leaving the first copy's first token out too keeps both means over the same positions);
- the head scores of :mod:`engine.interp.heads` (previous-token, first-token, duplicate-token and
  induction) on seeded probe data, every ``every`` steps.

The *target* of the issue is met at the first measurement where some head's induction score is >= 0.9
and the second-repeat loss is below 0.2 x the first-repeat loss.
"""

from __future__ import annotations

import math
import string
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import UserError
from engine.events import Evaluation, Event, Finished, Progress
from engine.interp.heads import SCORES, head_scores
from engine.model import GPT, MLPS, ModelConfig
from engine.tasks import CancelToken
from engine.tokenizers import Tokenizer
from engine.validate import choice, flag_bool, real, whole

# The task's vocabulary: one-character symbols (letters and digits, then Latin Extended and Cyrillic
# letters), so that a run's checkpoint has an ordinary character tokenizer every other command can read.
SYMBOLS = string.ascii_letters + string.digits + "".join(map(chr, range(0x100, 0x250))) + "".join(
    map(chr, range(0x400, 0x480)))
INDUCTION_TARGET = 0.9  # the largest induction score must reach this...
LOSS_RATIO_TARGET = 0.2  # ...and second-repeat loss / first-repeat loss fall below this
MAX_MINUTES = 24 * 60


@dataclass
class IclConfig:
    """The task, the model (2 layers x 2 heads by default) and the optimisation."""

    vocab: int = 256  # V symbols: many, so that a token rarely occurs by chance outside the segment
    context: int = 64  # T: tokens the model sees ([bos] + T - 1 more)
    n_min: int = 2  # segment lengths drawn per sequence (short ones leave only the previous-token offset)
    n_max: int = 20
    copies: int = 2  # copies of the segment in a training sequence (measurements always use 2)
    d: int = 64
    positional: str = "rotary"  # "rotary" | "learned" | "sinusoidal"
    mlp: str = "none"  # "none": attention only (Olsson et al. 2022) | "plain" | "swiglu" (engine.model)
    H: int = 2
    L: int = 2
    batch: int = 64
    lr: float = 1e-3
    warmup: int = 50
    weight_decay: float = 0.01
    steps: int = 3000  # the budget: steps, or minutes when ``minutes`` > 0
    minutes: float = 0.0
    every: int = 50  # measure losses and head scores every this many steps
    stop_at_target: bool = False  # stop at the measurement that first meets the target
    seed: int = 0

    def validate(self) -> None:
        where = "icl settings"
        self.vocab = whole(self.vocab, "vocab", 4, len(SYMBOLS), where)
        self.context = whole(self.context, "context", 8, 4096, where)
        self.n_max = whole(self.n_max, "n_max", 2, (self.context - 1) // 2, where)
        self.n_min = whole(self.n_min, "n_min", 2, self.n_max, where)
        if self.n_max > self.vocab:
            raise UserError(f"{where}: a segment of {self.n_max} distinct symbols needs a vocabulary of at least "
                            f"{self.n_max} (got {self.vocab})")
        for name in ("d", "H", "L", "batch", "warmup", "every"):
            whole(getattr(self, name), name, 0 if name == "warmup" else 1, 1 << 20, where)
        self.steps = whole(self.steps, "steps", 0, 10**9, where)
        self.minutes = real(self.minutes, "minutes", 0.0, MAX_MINUTES, where)
        if not self.steps and not self.minutes:
            raise UserError(f"{where}: give steps or minutes")
        self.lr = real(self.lr, "lr", 0.0, 1.0, where, lo_open=True)
        self.weight_decay = real(self.weight_decay, "weight_decay", 0.0, 10.0, where)
        flag_bool(self.stop_at_target, "stop_at_target", where)
        choice(self.positional, "positional", ("learned", "rotary", "sinusoidal"), where)
        choice(self.mlp, "mlp", MLPS, where)
        self.copies = whole(self.copies, "copies", 2, 64, where)
        if self.copies * self.n_max > self.context - 1:
            raise UserError(f"{where}: {self.copies} copies of {self.n_max} tokens do not fit the context "
                            f"({self.context})")
        ModelConfig(vocab_size=self.vocab + 2, context=self.context, d=self.d, H=self.H, L=self.L)  # checks d % H

    def model_config(self, vocab_size: int) -> ModelConfig:
        return ModelConfig(vocab_size=vocab_size, context=self.context, d=self.d, H=self.H, L=self.L,
                           positional=self.positional, mlp=self.mlp)


def symbol_tokenizer(vocab: int) -> Tokenizer:
    """A character tokenizer whose ordinary tokens are the first ``vocab`` symbols of :data:`SYMBOLS`."""
    return Tokenizer.train("char", [SYMBOLS[:vocab]])


@dataclass
class RepeatBatch:
    x: torch.Tensor  # (B, T) inputs, [bos] first
    y: torch.Tensor  # (B, T) next tokens
    first: torch.Tensor  # (B, T) bool: targets that are tokens 2..n of the first copy
    second: torch.Tensor  # (B, T) bool: the same of the second copy


def repeat_batch(cfg: IclConfig, pool: np.ndarray, bos: int, batch: int, rng: np.random.Generator,
                 n: int | None = None, copies: int = 2) -> RepeatBatch:
    """``batch`` sequences of the task (module docstring), from random generator ``rng``. ``n`` fixes the
    segment length; ``copies`` > 2 repeats it more times (then ``second`` marks the last copy)."""
    T = cfg.context
    full = rng.choice(pool, size=(batch, T + 1))  # random symbols everywhere: prefix and filler
    full[:, 0] = bos
    first = np.zeros((batch, T), dtype=bool)
    last = np.zeros((batch, T), dtype=bool)
    for b in range(batch):
        m = n if n is not None else int(rng.integers(cfg.n_min, cfg.n_max + 1))
        p = int(rng.integers(0, T - copies * m + 1))  # prefix length; the copies end by position T
        seg = rng.choice(pool, size=m, replace=len(pool) < m)
        for c in range(copies):
            full[b, 1 + p + c * m: 1 + p + (c + 1) * m] = seg
        # y[t] = full[t + 1]: copy c's token j (j >= 1) is the target at t = p + c m + j
        first[b, p + 1: p + m] = True
        last[b, p + (copies - 1) * m + 1: p + copies * m] = True
    t = torch.from_numpy(full.astype(np.int64))
    return RepeatBatch(t[:, :-1].contiguous(), t[:, 1:].contiguous(), torch.from_numpy(first), torch.from_numpy(last))


def symbol_pool(tokenizer: Tokenizer) -> np.ndarray:
    """The ids of the ordinary symbols (specials left out)."""
    special = set(tokenizer.special_ids)
    return np.array([i for i in range(tokenizer.vocab_size) if i not in special], dtype=np.int64)


@torch.no_grad()
def repeat_losses(model: GPT, batch: RepeatBatch) -> tuple[float, float]:
    """Mean loss on the first and on the second copy (tokens 2..n of each)."""
    was = model.training
    model.eval()
    logits = model(batch.x)[0]  # (B, T, V)
    model.train(was)
    nll = F.cross_entropy(logits.transpose(1, 2), batch.y, reduction="none")  # (B, T)
    return float(nll[batch.first].mean()), float(nll[batch.second].mean())


@dataclass
class IclPoint:
    """One measurement of a run: what a view draws (losses, and a line per head for each score)."""

    step: int
    seconds: float
    loss: float  # training loss of the last step
    first_repeat_loss: float
    second_repeat_loss: float
    scores: dict[str, list[list[float]]]  # name -> L x H (engine.interp.heads)

    @property
    def induction_max(self) -> float:
        return max(max(row) for row in self.scores["induction"])

    @property
    def ratio(self) -> float:
        return self.second_repeat_loss / self.first_repeat_loss if self.first_repeat_loss > 0 else math.inf

    @property
    def meets_target(self) -> bool:
        return self.induction_max >= INDUCTION_TARGET and self.ratio < LOSS_RATIO_TARGET

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "induction_max": self.induction_max, "loss_ratio": self.ratio}


@dataclass
class IclResult:
    model: GPT
    tokenizer: Tokenizer
    cfg: IclConfig
    history: list[IclPoint] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # every step's training loss
    target_step: int | None = None  # the first measurement that met the target
    target_seconds: float | None = None
    steps: int = 0
    seconds: float = 0.0
    stopped: bool = False

    def summary(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else None
        return {"steps": self.steps, "seconds": round(self.seconds, 2), "target_step": self.target_step,
                "target_seconds": None if self.target_seconds is None else round(self.target_seconds, 2),
                "first_repeat_loss": last and last.first_repeat_loss,
                "second_repeat_loss": last and last.second_repeat_loss,
                "induction_max": last and last.induction_max, "parameters": self.model.num_parameters(),
                "stopped": self.stopped}


def measure(model: GPT, tokenizer: Tokenizer, cfg: IclConfig, probe: RepeatBatch, step: int, seconds: float,
            loss: float) -> IclPoint:
    """Losses on the fixed probe batch and the head scores (n = n_max, 8 sequences, seed 0)."""
    first, second = repeat_losses(model, probe)
    was = model.training
    model.eval()
    s = head_scores(model, tokenizer, n=cfg.n_max, batch=8, seed=0)
    model.train(was)
    return IclPoint(step, seconds, loss, first, second, {k: v.tolist() for k, v in s.scores.items()})


def lr_at(step: int, cfg: IclConfig) -> float:
    """Linear warm-up, then constant (the budget may be time, so no schedule that needs the last step)."""
    return cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup))


def train_icl(cfg: IclConfig, token: CancelToken | None = None) -> Iterator[Event]:
    """Train a model on the task: :class:`Progress` after each step, :class:`Evaluation` (metrics: an
    :class:`IclPoint`'s dict) every ``cfg.every`` steps and at the end, then :class:`Finished` whose
    ``result`` is the :class:`IclResult`. Stops on ``token.cancel()`` (the result is kept, ``stopped``)."""
    cfg.validate()
    token = token or CancelToken()
    tok = symbol_tokenizer(cfg.vocab)
    pool, bos = symbol_pool(tok), tok.bos_id
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model_config(tok.vocab_size))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    rng = np.random.default_rng(cfg.seed)
    probe = repeat_batch(cfg, pool, bos, 64, np.random.default_rng(cfg.seed + 10**6))
    result = IclResult(model, tok, cfg)
    budget = cfg.minutes * 60 if cfg.minutes else math.inf
    total = cfg.steps if not cfg.minutes else None
    model.train()
    loss_value = float("nan")
    while (total is None or result.steps < total) and result.seconds < budget:
        if token.paused:
            token.wait_if_paused()
        if token.cancelled:
            result.stopped = True
            break
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(result.steps, cfg)
        b = repeat_batch(cfg, pool, bos, cfg.batch, rng, copies=cfg.copies)
        _, loss, _ = model(b.x, b.y)  # logits (B, T, V)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_value = loss.item()
        result.steps += 1
        result.seconds += time.perf_counter() - t0
        result.losses.append(loss_value)
        yield Progress(result.steps, total, result.seconds, None, {"loss": loss_value},
                       fraction=min(1.0, result.seconds / budget) if total is None else None)
        if result.steps % cfg.every == 0 or result.steps == 1:
            point = measure(model, tok, cfg, probe, result.steps, result.seconds, loss_value)
            result.history.append(point)
            if point.meets_target and result.target_step is None:
                result.target_step, result.target_seconds = point.step, point.seconds
            yield Evaluation(point.step, point.to_dict())
            if cfg.stop_at_target and result.target_step is not None:
                break
    if result.steps and (not result.history or result.history[-1].step != result.steps):
        point = measure(model, tok, cfg, probe, result.steps, result.seconds, loss_value)
        result.history.append(point)
        if point.meets_target and result.target_step is None:
            result.target_step, result.target_seconds = point.step, point.seconds
        yield Evaluation(point.step, point.to_dict())
    model.eval()
    yield Finished(result.summary(), result.stopped, result)


# --- saving and evaluating a run ------------------------------------------------------------------


def save_icl(result: IclResult, out: str | Path) -> Path:
    """The run as an ordinary checkpoint (engine.checkpoint, atomic): config.json ``icl`` holds the task's
    settings, the measurements and the target step; trainer.json the loss of every step and the head
    scores in the Trainer's layout (``head_scores``: step, name -> [L x H]), so a view can replay the run."""
    from engine.checkpoint import save_checkpoint

    points = [p.to_dict() for p in result.history]
    heads: dict[str, list] = {"step": [p.step for p in result.history]}
    for name in SCORES:
        heads[name] = [p.scores[name] for p in result.history]
    cfg = result.cfg
    extra = {"step": result.steps, "objective": "next", "corpus": "icl-repeated-segments",
             "icl": {"config": asdict(cfg), "history": points, "target_step": result.target_step,
                     "target_seconds": result.target_seconds, "seconds": result.seconds,
                     "target": {"induction": INDUCTION_TARGET, "loss_ratio": LOSS_RATIO_TARGET}}}
    trainer_state = {"step": result.steps,
                     "history": {"step": list(range(1, result.steps + 1)), "loss": result.losses, "eval_step": [],
                                 "train_loss": [], "val_loss": []},
                     "first_loss": result.losses[0] if result.losses else None, "train_seconds": result.seconds,
                     "tokens_seen": result.steps * cfg.batch * cfg.context, "head_scores": heads}
    return save_checkpoint(Path(out), result.model, result.tokenizer, extra=extra, trainer_state=trainer_state)


def icl_settings(loaded: Any) -> IclConfig:
    """The task settings of a checkpoint written by :func:`save_icl` (a UserError for any other)."""
    raw = loaded.config.get("icl")
    if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
        raise UserError(f"{loaded.path} was not trained on repeated segments (txe icl train); for a text model "
                        "use txe few-shot --model DIR")
    known = set(IclConfig.__dataclass_fields__)
    try:
        cfg = IclConfig(**{k: v for k, v in raw["config"].items() if k in known})
        cfg.validate()
    except TypeError as e:
        raise UserError(f"{loaded.path}: its icl settings are damaged ({str(e)[:80]})") from None
    if cfg.context != loaded.model.cfg.context or len(symbol_pool(loaded.tokenizer)) != cfg.vocab:
        raise UserError(f"{loaded.path}: its icl settings do not match its model")
    return cfg


@torch.no_grad()
def accuracy_by_copies(model: GPT, tokenizer: Tokenizer, cfg: IclConfig, ks: list[int], batch: int = 64,
                       seed: int = 0) -> tuple[dict[int, float], int]:
    """Few-shot on this model's own task: a segment shown k times, then once more; the accuracy of the
    greedy (argmax) prediction of tokens 2..n of that last copy. k = 0 is the first sight (chance: 1 / V).
    The segment is n = min(n_max, (context - 1) // (max k + 1)) tokens, the same for every k.
    Returns ({k: accuracy}, n)."""
    top = max(ks)
    n = min(cfg.n_max, (cfg.context - 1) // (top + 1))
    if n < 2:
        raise UserError(f"k={top}: {top + 1} copies of a segment of 2 or more tokens do not fit this model's "
                        f"context ({cfg.context}); the largest k is {(cfg.context - 1) // 2 - 1}")
    pool, bos = symbol_pool(tokenizer), tokenizer.bos_id
    was = model.training
    model.eval()
    out = {}
    for k in ks:
        b = repeat_batch(cfg, pool, bos, batch, np.random.default_rng([seed, k]), n=n, copies=k + 1)
        pred = model(b.x)[0].argmax(-1)  # (B, T)
        out[k] = float((pred == b.y)[b.second].float().mean())
    model.train(was)
    return out, n


def evaluate_icl(loaded: Any, ks: list[int], seed: int = 0) -> dict[str, Any]:
    """What ``txe icl evaluate`` reports: the repeat losses on a seeded batch of the task, the head scores,
    ``accuracy_by_k`` (:func:`accuracy_by_copies`) and the run's target step."""
    cfg = icl_settings(loaded)
    model, tok = loaded.model, loaded.tokenizer
    probe = repeat_batch(cfg, symbol_pool(tok), tok.bos_id, 64, np.random.default_rng(seed + 10**6))
    first, second = repeat_losses(model, probe)
    scores = head_scores(model, tok, n=cfg.n_max, batch=8, seed=seed).scores
    acc, n = accuracy_by_copies(model, tok, cfg, ks, seed=seed)
    ind = scores["induction"]
    best = np.unravel_index(int(ind.argmax()), ind.shape)
    raw = loaded.config["icl"]
    return {"accuracy_by_k": {str(k): v for k, v in acc.items()}, "segment_for_k": n,
            "first_repeat_loss": first, "second_repeat_loss": second, "loss_ratio": second / first,
            "induction_max": float(ind.max()), "induction_head": f"{best[0]}.{best[1]}",
            "scores": {k: v.tolist() for k, v in scores.items()},
            "meets_target": bool(ind.max() >= INDUCTION_TARGET and second < LOSS_RATIO_TARGET * first),
            "target_step": raw.get("target_step"), "steps": loaded.step}
