"""Vanishing gradients, measured: how much the loss at the last step still depends on an input t steps back.

Seed 000 ("Training recurrent networks", "Vanishing-gradient problem", Hochreiter & Schmidhuber 1997): a
recurrent network is trained by back-propagation through time, and the gradient that reaches an input t
steps before the output is a product of t Jacobians dV(t)/dV(t-1). In a plain RNN each factor is
W^(hv) times tanh' <= 1, so the product shrinks geometrically and the network cannot learn what happened
long ago. Gated units "create short cuts": a GRU with z = 1 copies V(t) = V(t-1), an LSTM with f = 1 keeps
its cell c(t) = c(t-1), and the gradient passes those steps unharmed. Seed 003 says the same of RNNs
("struggling with long-range dependencies due to the vanishing gradient problem") and of LSTM and GRU
("gates that control information flow"); attention (seed 000: "overcomes vanishing-gradient problem of
recurrent nets") reaches every position in one step.

**The task** (:class:`RecallTask`): the long-range recall task. A sequence has T tokens. The first is one of
K *symbols* (``0 .. K-1``), drawn uniformly; the T - 1 after it are *distractors* drawn uniformly from D
other tokens (``K .. K+D-1``). The target, read at the last step (position T - 1), is the first token: a
K-way choice, chance 1 / K. Only position 0 carries the answer, so everything the model learns must travel
T - 1 steps, and the distractors are noise it must not overwrite the answer with. (Distractors come from
their own tokens so that a gate can learn to shut on them; with the symbols reused as noise the task is the
same in principle but far slower to learn, which hides the difference this view is about.)

**The models** (:class:`RecallModel`): an embedding (V, d) of the tokens, then

- ``rnn``, ``gru``, ``lstm``: the cells of :mod:`engine.recurrent` unrolled over the T steps, the last
  state V(T-1) read by a linear head (K classes);
- ``transformer``: :class:`engine.model.Transformer` (causal, learned positions, no unembedding), its
  final hidden state at the last position read by the same kind of head.

**The measurement** (:func:`gradient_norms`): for each sequence b of a batch, the gradient of its own loss
(cross-entropy at the last step) with respect to the input embedding e_b(tau) at every position tau; its
Euclidean norm, averaged over the batch, is reported against the distance t = T - 1 - tau from the output
(t = 0: the last input, t = T - 1: the first, the one that holds the answer). It is computed in float64 so
that a gradient of 1e-40 is a number and not an underflow to zero.

:func:`train_recall` trains the chosen architectures side by side on fresh batches and reports a
:class:`GradientSnapshot` (loss, accuracy, the gradient curve and the GRU / LSTM gates of one probe
sequence) through ``token.report`` at step 0 and every few steps; :func:`gates_over_time` reads the gates
of one sequence (:class:`engine.recurrent.Recurrent` with ``gates=True``).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.errors import UserError
from engine.model import ModelConfig, Transformer
from engine.recurrent import Recurrent
from engine.tasks import CancelToken
from engine.validate import check_memory, whole

ARCHS = ("rnn", "gru", "lstm", "transformer")
ARCH_TITLES = {"rnn": "plain RNN", "gru": "GRU", "lstm": "LSTM", "transformer": "transformer"}
GATED = ("gru", "lstm")
MIN_LENGTH, MAX_LENGTH = 2, 500
MAX_STEPS = 1_000_000
MAX_BATCH = 512
SYMBOLS = 8  # K: what the first token can be (chance 1/8)
DISTRACTORS = 8  # D: the noise tokens after it
EMBED = 32  # d of the recurrent models' input embedding
HIDDEN = 64  # H of the recurrent cells
TF_WIDTH, TF_HEADS, TF_LAYERS = 64, 4, 2
LR = 3e-3
CLIP = 1.0  # gradient norm clipping, the usual guard against exploding gradients in RNNs
MEASURE_BATCH = 64  # sequences the gradient, loss and accuracy of a snapshot are averaged over


@dataclass(frozen=True)
class RecallTask:
    """The long-range recall task of the module docstring: T tokens, the target is the first one."""

    length: int  # T
    symbols: int = SYMBOLS  # K
    distractors: int = DISTRACTORS  # D

    def __post_init__(self) -> None:
        whole(self.length, "length", MIN_LENGTH, MAX_LENGTH)
        whole(self.symbols, "symbols", 2, 1000)
        whole(self.distractors, "distractors", 1, 1000)

    @property
    def vocab(self) -> int:
        return self.symbols + self.distractors

    @property
    def chance(self) -> float:
        return 1.0 / self.symbols

    def batch(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n sequences x (n, T) and their targets y (n,) = x[:, 0]."""
        first = torch.randint(0, self.symbols, (n, 1), generator=gen)  # (n, 1)
        rest = torch.randint(self.symbols, self.vocab, (n, self.length - 1), generator=gen)  # (n, T-1)
        x = torch.cat([first, rest], dim=1)  # (n, T)
        return x, x[:, 0].clone()

    def describe(self) -> str:
        return (f"recall the first of {self.length} tokens ({self.symbols} symbols, then {self.length - 1} "
                f"distractors of {self.distractors} kinds); chance {self.chance:.3f}")


class RecallModel(nn.Module):
    """Embedding -> an encoder over the T inputs -> a K-way head read at the last step."""

    def __init__(self, arch: str, task: RecallTask) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise UserError(f"unknown architecture {arch!r}; use {', '.join(ARCHS)}")
        self.arch = arch
        self.T = task.length
        if arch == "transformer":
            cfg = ModelConfig(vocab_size=task.vocab, context=task.length, d=TF_WIDTH, H=TF_HEADS, L=TF_LAYERS,
                              lm_head=False)
            self.net: nn.Module = Transformer(cfg)
            self.embed = self.net.wte  # (V, d)
            width = TF_WIDTH
        else:
            self.embed = nn.Embedding(task.vocab, EMBED)  # (V, d)
            self.net = Recurrent(arch, EMBED, HIDDEN)
            if arch in GATED:
                chrono_init(self.net.cell, task.length)
            width = HIDDEN
        self.head = nn.Linear(width, task.symbols)

    def encode(self, e: torch.Tensor) -> torch.Tensor:
        """Input embeddings e (B, T, d) -> the state read at the last step (B, width)."""
        if self.arch == "transformer":
            net = self.net
            x = e + net.positions(0, e.shape[1])  # (B, T, d): token embedding + learned position
            for block in net.blocks:
                x = block(x)
            return net.ln_f(x)[:, -1]  # the last position, which attends to all T (causal)
        zero = self.net.cell.initial(e.shape[0], e.device)  # in e's dtype (float64 when measuring)
        state = tuple(z.to(e.dtype) for z in zero) if isinstance(zero, tuple) else zero.to(e.dtype)
        _, last, _ = self.net(e, state)
        return last[0] if isinstance(last, tuple) else last  # V(T-1) (B, H)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        """e (B, T, d) -> logits over the K symbols (B, K)."""
        return self.head(self.encode(e))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids x (B, T) -> logits (B, K)."""
        return self(self.embed(x))


def chrono_init(cell: nn.Module, T: int) -> None:
    """Open the gated cell's short cuts at the start, for dependencies up to T steps (the "chrono"
    initialisation of Tallec & Ollivier 2018): each unit's keep gate (the GRU's z, seed 000's "the unit short
    cuts when z = 1"; the LSTM's forget gate f) gets the bias log(u), u uniform in [1, T - 1], so that unit
    keeps its state for about u steps; the LSTM's input gate gets -log(u). The plain RNN has no gate to open."""
    H = cell.n_hidden
    u = torch.empty(H).uniform_(1.0, max(2.0, T - 1.0))
    with torch.no_grad():
        bias = cell.w_x.bias
        if cell.gates == ("z", "r"):
            bias[:H] = torch.log(u)  # z: the first of the GRU's (z, r, h) blocks
        else:
            bias[H:2 * H] = torch.log(u)  # f: the LSTM's (i, f, o, c~) blocks
            bias[:H] = -torch.log(u)  # i


def build_models(archs: tuple[str, ...], task: RecallTask, seed: int) -> dict[str, RecallModel]:
    """One fresh model per architecture, each initialised from ``seed`` (the global RNG is left as it was)."""
    models = {}
    with torch.random.fork_rng(devices=[]):
        for i, arch in enumerate(archs):
            torch.manual_seed(seed * 1000 + i)
            models[arch] = RecallModel(arch, task)
    return models


def gradient_norms(model: RecallModel, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """The mean over the batch of ||d loss_b / d e_b(T-1-t)||, by distance t = 0 .. T-1 (T,), in float64.

    loss_b is sequence b's own cross-entropy at the last step (a summed loss, so that each sequence's
    gradient is not divided by the batch size); e_b(tau) (d,) its input embedding at position tau."""
    twin = copy.deepcopy(model).double()  # float64: gradients of 1e-40 and below stay numbers
    e = twin.embed(x).detach().requires_grad_(True)  # (B, T, d)
    loss = F.cross_entropy(twin(e), y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, e)  # (B, T, d)
    per_position = grad.norm(dim=-1).mean(dim=0)  # (T,)
    return per_position.flip(0).numpy()  # index t = distance from the output


@dataclass
class Gates:
    """The gates of one recurrent model over one sequence: {gate: (T, H)} in (0, 1), and their means (T,)."""

    arch: str
    tokens: list[int]
    values: dict[str, np.ndarray]  # gate -> (T, H): time x units
    means: dict[str, np.ndarray] = field(default_factory=dict)  # gate -> (T,): the mean over the units

    def __post_init__(self) -> None:
        if not self.means:
            self.means = {g: v.mean(axis=1) for g, v in self.values.items()}


@torch.no_grad()
def gates_over_time(model: RecallModel, tokens: torch.Tensor) -> Gates:
    """The GRU's z (update) and r (reset) gates, seed 000's equations, or the LSTM's input, forget and output
    gates i, f, o, at every step of one sequence ``tokens`` (T,)."""
    if model.arch not in GATED:
        raise UserError(f"{ARCH_TITLES.get(model.arch, model.arch)} has no gates; gates are read from "
                        f"{' and '.join(ARCH_TITLES[a] for a in GATED)}")
    e = model.embed(tokens.view(1, -1))  # (1, T, d)
    _, _, seen = model.net(e, gates=True)  # gate -> (1, T, H)
    return Gates(model.arch, [int(t) for t in tokens], {g: v[0].numpy().astype(np.float32) for g, v in seen.items()})


@dataclass
class GradientSnapshot:
    """The models at one step: loss and accuracy on the measurement batch, the gradient by distance, gates."""

    step: int
    seconds: float
    loss: dict[str, float]
    accuracy: dict[str, float]
    grad_norm: dict[str, np.ndarray]  # arch -> (T,), index = distance
    gates: dict[str, Gates] = field(default_factory=dict)  # "gru" / "lstm" -> on the probe sequence

    @property
    def distance(self) -> list[int]:
        return list(range(len(next(iter(self.grad_norm.values()))))) if self.grad_norm else []

    def ratio(self, top: str, bottom: str, t: int) -> float:
        """grad_norm[top][t] / grad_norm[bottom][t] (inf when the bottom one vanished to 0)."""
        a, b = float(self.grad_norm[top][t]), float(self.grad_norm[bottom][t])
        return a / b if b > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "loss": self.loss, "accuracy": self.accuracy,
                "grad_norm": {a: [float(v) for v in g] for a, g in self.grad_norm.items()}}


@dataclass
class GradientRun:
    """What :func:`train_recall` made: every snapshot (step 0 first), the trained models, the probe sequence."""

    task: RecallTask
    archs: tuple[str, ...]
    snapshots: list[GradientSnapshot]
    models: dict[str, RecallModel]
    probe: torch.Tensor  # (T,) the sequence the gates are read on
    stopped: bool = False

    @property
    def first(self) -> GradientSnapshot:
        return self.snapshots[0]

    @property
    def last(self) -> GradientSnapshot:
        return self.snapshots[-1]


def parse_archs(text: str) -> tuple[str, ...]:
    """"rnn,gru,lstm,transformer" -> the architectures, in the order given; UserError for an unknown one."""
    archs = tuple(a.strip().lower() for a in text.split(",") if a.strip())
    if not archs:
        raise UserError(f"give at least one architecture: {', '.join(ARCHS)}")
    unknown = [a for a in archs if a not in ARCHS]
    if unknown:
        raise UserError(f"unknown architecture {unknown[0][:40]!r}; use {', '.join(ARCHS)}")
    if len(set(archs)) != len(archs):
        raise UserError("each architecture once, please")
    return archs


def check_settings(archs: tuple[str, ...], length: int, steps: int, batch: int) -> RecallTask:
    """Every setting checked, and the memory the run needs, before anything is allocated."""
    if not archs or any(a not in ARCHS for a in archs):
        raise UserError(f"architectures must be among {', '.join(ARCHS)}")
    task = RecallTask(length)
    whole(steps, "steps", 0, MAX_STEPS)
    whole(batch, "batch", 1, MAX_BATCH)
    n = max(batch, MEASURE_BATCH)
    floats = n * length * (EMBED + 12 * HIDDEN) * 2  # the unrolled cells' activations, float64 measurement
    if "transformer" in archs:  # (B, H, T, T) attention per layer kept for the backward pass, in float64
        floats += 2 * n * TF_LAYERS * (TF_HEADS * length * length * 3 + length * 12 * TF_WIDTH)
    check_memory(8 * floats, f"gradients over {length} steps (batch {n})")
    return task


def measure(models: dict[str, RecallModel], x: torch.Tensor, y: torch.Tensor, step: int, started: float,
            probe: torch.Tensor | None = None) -> GradientSnapshot:
    """Loss, accuracy and the gradient by distance of every model on (x, y); gates of the gated ones on probe."""
    loss, acc, grads, gates = {}, {}, {}, {}
    for arch, model in models.items():
        model.eval()
        with torch.no_grad():
            logits = model.logits(x)  # (B, K)
            loss[arch] = float(F.cross_entropy(logits, y))
            acc[arch] = float((logits.argmax(-1) == y).float().mean())
        grads[arch] = gradient_norms(model, x, y)
        if probe is not None and arch in GATED:
            gates[arch] = gates_over_time(model, probe)
        model.train()
    return GradientSnapshot(step, time.perf_counter() - started, loss, acc, grads, gates)


def train_recall(archs: tuple[str, ...], length: int, steps: int, seed: int = 0, batch: int = 32,
                 every: int = 10, token: CancelToken | None = None,
                 should_stop: Callable[[], bool] | None = None) -> GradientRun:
    """Train every architecture in ``archs`` on the recall task of length T = ``length`` for ``steps`` steps.

    Each step draws a fresh batch and takes one Adam step (lr 3e-3, gradient norm clipped at 1) for each
    model in turn, so they progress side by side. At step 0 (initialisation), every ``every`` steps and at
    the end, a :class:`GradientSnapshot` on a fixed measurement batch of 64 sequences (the same at every
    snapshot) is kept and reported with ``token.report(snapshot)``. ``should_stop()`` true ends the run
    early with a last snapshot (``stopped``); a cancelled token raises :class:`engine.tasks.Cancelled`."""
    task = check_settings(archs, length, steps, batch)
    whole(every, "every", 1, MAX_STEPS)
    started = time.perf_counter()
    models = build_models(archs, task, seed)
    measure_gen = torch.Generator().manual_seed(seed + 1)
    mx, my = task.batch(MEASURE_BATCH, measure_gen)
    probe = task.batch(1, measure_gen)[0][0]  # (T,)
    opts = {a: torch.optim.Adam(m.parameters(), lr=LR) for a, m in models.items()}
    gen = torch.Generator().manual_seed(seed)
    run = GradientRun(task, tuple(archs), [], models, probe)

    def snapshot(step: int) -> None:
        snap = measure(models, mx, my, step, started, probe)
        run.snapshots.append(snap)
        if token is not None:
            token.report(snap)

    snapshot(0)
    for step in range(1, steps + 1):
        if token is not None:
            token.check()
        if should_stop is not None and should_stop():
            run.stopped = True
            if run.last.step != step - 1:
                snapshot(step - 1)
            break
        x, y = task.batch(batch, gen)
        for arch, model in models.items():
            loss = F.cross_entropy(model.logits(x), y)
            opts[arch].zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP)
            opts[arch].step()
        if step % every == 0 or step == steps:
            snapshot(step)
    return run
