"""Fine-tuning a pre-trained transformer to classify texts (seed 002, 11.3.2: pre-training "to extract
patterns" on unlabelled text, then "fine-tuning ... for a specific task, such as classification", which
"can be relatively inexpensive, but ... requires labeled data"; seed 003: BERT "typically need[s] to be
fine-tuned for various downstream tasks like sentiment analysis").

A :class:`Classifier` is the pre-trained body (our :class:`engine.model.Transformer`, its final hidden
states (B, T, d) with ``head=False``) plus one linear map from a pooled vector to the classes:

- ``"mean"``: the mean of the hidden states of the real tokens (the default, for encoders and decoders);
- ``"last"``: the last real token's state, the only one that has seen the whole text in a causal model;
- ``"cls"``: the first token's state (BERT's [CLS]).

Mean pooling is the default for causal models too: measured on the genre task with the default character
model (a logistic regression on frozen features, 100 / 1,000 speeches, held-out plays), the last token's
state gave 32% / 46% and the mean 43% / 52%: a character model's last position mostly encodes what the
next character will be, while the mean sums up the whole speech.

:func:`finetune` trains body and head together with AdamW (or, with ``pretrained=False``, the same
architecture re-initialised: the from-scratch baseline with the same budget); :func:`classify` explains a
prediction by leaving each token out in turn. The data side is :mod:`engine.labelled`; the transfer
experiment (accuracy against the number of labelled examples) is :mod:`engine.transfer`.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import save_file

from engine.checkpoint import LoadedModel, read_weights
from engine.errors import UserError
from engine.files import is_format_folder, read_folder_config, write_folder
from engine.labelled import (  # noqa: F401  (re-exported: one place to import the fine-tuning API from)
    Dataset,
    genre_dataset,
    load_task,
    pretraining_val_plays,
    read_tsv,
    split_by_group,
    subsample,
)
from engine.model import ModelConfig, Transformer
from engine.tasks import CancelToken
from engine.tokenizers import Tokenizer, folder_tokenizer, tokenizer_specials

FORMAT = "txe-finetuned"
VERSION = 1
POOLINGS = ("mean", "last", "cls")
MAX_CONFIG_BYTES = 1 << 20
EVAL_BATCH = 64


def default_pooling(cfg: ModelConfig) -> str:
    """"mean" for every model (see the module docstring for why not "last" for causal ones)."""
    return "mean"


class Classifier(nn.Module):
    """A transformer body and a linear head on a pooled hidden state: logits (B, C) = W pool(h) + b."""

    def __init__(self, body: Transformer, n_classes: int, pooling: str | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        pooling = pooling or default_pooling(body.cfg)
        if pooling not in POOLINGS:
            raise UserError(f"unknown pooling {pooling!r}; use one of {', '.join(POOLINGS)}")
        self.body = body
        self.pooling = pooling
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(body.cfg.d, n_classes)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    @property
    def context(self) -> int:
        return self.body.cfg.context

    def pool(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """h (B, T, d), mask (B, T) 1 for real tokens -> (B, d)."""
        if self.pooling == "cls":
            return h[:, 0]
        if self.pooling == "last":
            last = mask.long().sum(1) - 1  # (B,) index of the last real token (padding is on the right)
            return h[torch.arange(h.shape[0], device=h.device), last]
        m = mask.to(h.dtype).unsqueeze(-1)  # (B, T, 1)
        return (h * m).sum(1) / m.sum(1).clamp_min(1.0)

    def forward(self, idx: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """idx (B, T) token ids, mask (B, T) -> logits (B, C)."""
        h, _, _ = self.body(idx, attention_mask=mask, head=False)  # (B, T, d)
        return self.head(self.drop(self.pool(h, mask)))  # (B, C)


@dataclass
class Finetuned:
    """A fine-tuned classifier with what it needs to read a text, and how it was measured."""

    model: Classifier
    tokenizer: Tokenizer
    label_names: list[str]
    accuracy: float | None = None  # on the validation set at the end of training
    history: list[dict[str, Any]] = field(default_factory=list)  # {"step", "loss"} and {"step", "accuracy"}
    info: dict[str, Any] = field(default_factory=dict)  # base model, settings (saved in config.json)


@dataclass
class Classification:
    label_names: list[str]
    probs: list[float]
    tokens: list[str]  # the text's tokens as read (no [CLS]/<|bos|>), those the model saw
    importance: list[float]  # per token: p(predicted class) - p(predicted class without that token)

    @property
    def label(self) -> str:
        return self.label_names[int(np.argmax(self.probs))]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "probs": dict(zip(self.label_names, self.probs, strict=True)),
                "importance": [[t, v] for t, v in zip(self.tokens, self.importance, strict=True)]}


# --- tokens and batches -----------------------------------------------------------------------------


def encode(tokenizer: Tokenizer, text: str, context: int) -> list[int]:
    """The model's input for ``text``: prefix + as many of its tokens as fit in ``context`` + suffix."""
    room = context - len(tokenizer.prefix_ids) - len(tokenizer.suffix_ids)
    if room < 1:
        raise UserError(f"a context of {context} tokens has no room for a text")
    return tokenizer.wrap(tokenizer.encode(text).ids[:room])


def pad_batch(seqs: list[list[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, T) and the mask (B, T), 1 for real tokens."""
    T = max(len(s) for s in seqs)
    idx = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.long)
    for i, s in enumerate(seqs):
        idx[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, :len(s)] = 1
    return idx, mask


def _pad_id(tokenizer: Tokenizer) -> int:
    return tokenizer.pad_id if tokenizer.pad_id is not None else 0


@torch.no_grad()
def predict_proba(model: Classifier, tokenizer: Tokenizer, seqs: list[list[int]]) -> np.ndarray:
    """Class probabilities (N, C) of encoded texts, in batches of similar lengths (little padding)."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = np.zeros((len(seqs), model.head.out_features), dtype=np.float64)
    for start in range(0, len(order), EVAL_BATCH):
        chunk = order[start:start + EVAL_BATCH]
        idx, mask = pad_batch([seqs[i] for i in chunk], _pad_id(tokenizer))
        out[chunk] = F.softmax(model(idx, mask).double(), dim=-1).numpy()
    model.train(was_training)
    return out


def accuracy(model: Classifier, tokenizer: Tokenizer, seqs: list[list[int]], labels: list[int]) -> float:
    probs = predict_proba(model, tokenizer, seqs)
    return float(np.mean(probs.argmax(1) == np.asarray(labels)))


# --- training ---------------------------------------------------------------------------------------


def default_lr(cfg: ModelConfig) -> float:
    """1e-3 for a small model like the default one (0.8M parameters), 1e-4 for larger ones (MiniLM:
    BERT's fine-tuning rates are 2e-5..1e-4)."""
    return 1e-3 if cfg.parameter_count() < 5_000_000 else 1e-4


def warmup_then_decay(opt: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over the first 10% of ``steps``, then linear decay to 0 (BERT's fine-tuning schedule)."""
    warmup = max(1, steps // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / max(1, steps - warmup)))


def shuffled_batches(n: int, batch: int, seed: int) -> Iterator[list[int]]:
    """Endless batches of ``batch`` indices of 0..n-1: each pass over them in a new order (seeded)."""
    rng = random.Random(seed)
    order: list[int] = []
    while True:
        if len(order) < batch:
            fresh = list(range(n))
            rng.shuffle(fresh)
            order += fresh
        chosen, order = order[:batch], order[batch:]
        yield chosen


def _body(base: LoadedModel, pretrained: bool, seed: int) -> Transformer:
    cfg = ModelConfig.from_dict(base.model.cfg.to_dict())
    torch.manual_seed(seed)
    body = Transformer(cfg)  # a fresh initialisation (the from-scratch baseline keeps it)
    if pretrained:
        body.load_state_dict(base.model.state_dict())
    body.name, body.architecture = base.model.name, base.model.architecture
    return body


def finetune(base: LoadedModel, train: Dataset, val: Dataset | None = None, steps: int = 150,
             lr: float | None = None, batch: int = 16, seed: int = 0, pretrained: bool = True,
             pooling: str | None = None, eval_every: int = 0, head_lr: float = 10.0,
             token: CancelToken | None = None) -> Finetuned:
    """Train a :class:`Classifier` on ``train`` for ``steps`` steps of ``batch`` texts (AdamW, weight decay
    0.01, linear warm-up over the first 10% then linear decay; dropout 0.1 before the head). The new head
    learns ``head_lr`` times faster than the body, whose pre-trained weights should move little.

    ``pretrained=False`` starts from a fresh initialisation of the same architecture (same tokenizer, same
    size): the from-scratch baseline with the same budget. ``lr`` None: :func:`default_lr`. Texts longer
    than the model's context are cut. ``token`` gets ``("step", step, loss)`` after every step and
    ``("eval", step, accuracy)`` after each evaluation on ``val`` (every ``eval_every`` steps, 0: at the end
    only); ``token.check()`` runs between steps. The defaults (150 steps of 16) take about 20-40 s with the
    default model on 2 cores.
    """
    if len(train) == 0:
        raise UserError("no training examples")
    if len(set(train.labels)) < 2:
        raise UserError("the training examples have only one label; a classifier needs 2 or more")
    if val is not None and val.label_names != train.label_names:
        raise UserError("training and validation data have different labels")
    if steps < 1 or batch < 1:
        raise UserError("steps and batch must be 1 or more")
    body = _body(base, pretrained, seed)
    model = Classifier(body, len(train.label_names), pooling)
    lr = lr if lr is not None else default_lr(body.cfg)
    tok = base.tokenizer
    seqs = [encode(tok, t, model.context) for t in train.texts]
    labels = torch.tensor(train.labels, dtype=torch.long)
    val_seqs = [encode(tok, t, model.context) for t in val.texts] if val is not None else []
    body_decay = [p for p in body.parameters() if p.dim() >= 2]
    body_no_decay = [p for p in body.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": body_decay, "weight_decay": 0.01, "lr": lr},
                             {"params": body_no_decay, "weight_decay": 0.0, "lr": lr},
                             {"params": list(model.head.parameters()), "weight_decay": 0.0, "lr": lr * head_lr}],
                            lr=lr)
    sched = warmup_then_decay(opt, steps)
    order = shuffled_batches(len(seqs), batch, seed)
    history: list[dict[str, Any]] = []
    acc = None
    started = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        if token is not None:
            token.check()
        chosen = next(order)
        idx, mask = pad_batch([seqs[i] for i in chosen], _pad_id(tok))
        loss = F.cross_entropy(model(idx, mask), labels[chosen])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        value = float(loss.item())
        if not math.isfinite(value):
            raise UserError(f"the loss became {value} at step {step}; try a smaller learning rate")
        history.append({"step": step, "loss": value})
        if token is not None:
            token.report(("step", step, value))
        if val is not None and (step == steps or (eval_every and step % eval_every == 0)):
            acc = accuracy(model, tok, val_seqs, val.labels)
            history.append({"step": step, "accuracy": acc})
            if token is not None:
                token.report(("eval", step, acc))
    model.eval()
    info = {"base": base.config.get("name") or str(base.path), "pretrained": pretrained, "steps": steps, "lr": lr,
            "batch": batch, "seed": seed, "pooling": model.pooling, "head_lr": head_lr, "train_size": len(train),
            "val_size": len(val) if val is not None else 0, "seconds": round(time.perf_counter() - started, 2)}
    return Finetuned(model, tok, list(train.label_names), acc, history, info)


# --- explaining one prediction ----------------------------------------------------------------------


@torch.no_grad()
def classify(ft: Finetuned, text: str) -> Classification:
    """The class probabilities of ``text`` and, per token, how much the predicted class's probability drops
    when that token alone is left out (leave-one-out: positive = evidence for the prediction)."""
    tok, model = ft.tokenizer, ft.model
    room = model.context - len(tok.prefix_ids) - len(tok.suffix_ids)
    enc = tok.encode(text)
    ids = enc.ids[:room]
    if not ids:
        raise UserError("the text has no tokens to classify")
    full = predict_proba(model, tok, [tok.wrap(ids)])[0]
    c = int(full.argmax())
    without = [tok.wrap(ids[:i] + ids[i + 1:]) for i in range(len(ids))]
    dropped = predict_proba(model, tok, without)[:, c]
    tokens = [text[a:b] if b > a else tok.token_text(i) for i, (a, b) in zip(ids, enc.offsets[:len(ids)], strict=True)]
    return Classification(list(ft.label_names), [float(p) for p in full], tokens,
                          [float(full[c] - p) for p in dropped])


# --- saving and loading -----------------------------------------------------------------------------


def save_finetuned(ft: Finetuned, folder: str | Path) -> Path:
    """Write ``folder`` atomically (a complete new copy, then one rename): model.safetensors (body as
    ``body.*``, head as ``head.*``), tokenizer.json and config.json (format, label names, pooling, the base
    model's settings, the tokenizer's special tokens, accuracy and training settings)."""
    dest = Path(folder)
    if dest.exists() and (not dest.is_dir() or (any(dest.iterdir()) and not is_finetuned(dest))):
        raise UserError(f"{dest} exists and is not a fine-tuned classifier; choose a new or empty folder")

    def fill(tmp: Path) -> None:
        state = {k: v.detach().contiguous() for k, v in ft.model.state_dict().items()}
        if ft.model.body.cfg.tied:
            state.pop("body.lm_head.weight", None)  # the same tensor as body.wte.weight
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": FORMAT})
        ft.tokenizer.save(tmp / "tokenizer.json")
        config = {"format": FORMAT, "version": VERSION, "label_names": ft.label_names, "pooling": ft.model.pooling,
                  "model": ft.model.body.cfg.to_dict(), "tokenizer": ft.tokenizer.kind,
                  "specials": tokenizer_specials(ft.tokenizer), "vocab_size": ft.tokenizer.vocab_size,
                  "accuracy": ft.accuracy, "architecture": ft.model.body.architecture, "train": ft.info}
        (tmp / "config.json").write_text(json.dumps(config, indent=1, ensure_ascii=False), encoding="utf-8")

    write_folder(dest, fill, "the classifier", (SafetensorError,))
    return dest


def is_finetuned(folder: str | Path) -> bool:
    return is_format_folder(folder, FORMAT, MAX_CONFIG_BYTES)


def _read_config(p: Path) -> dict[str, Any]:
    config = read_folder_config(p, FORMAT, VERSION, "fine-tuned classifier", f"txe finetune --out {p}",
                                f"{p} is a model, not a fine-tuned classifier; make one with txe finetune "
                                f"--checkpoint {p}", MAX_CONFIG_BYTES)
    cfg_path = p / "config.json"
    names = config.get("label_names")
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise UserError(f"{cfg_path}: label_names must be a list of 2 or more names")
    if config.get("pooling") not in POOLINGS:
        raise UserError(f"{cfg_path}: pooling must be one of {', '.join(POOLINGS)}")
    return config


def load_finetuned(folder: str | Path) -> Finetuned:
    """Read what :func:`save_finetuned` wrote; a missing, corrupt or mismatched folder is one UserError."""
    p = Path(folder)
    config = _read_config(p)
    try:
        mcfg = ModelConfig.from_dict(config.get("model"))
    except (UserError, TypeError) as e:
        raise UserError(f"{p}/config.json: {e}") from None
    mcfg.check_size(f"loading {p}")
    tok = folder_tokenizer(p, config)
    if tok.vocab_size > mcfg.vocab_size:
        raise UserError(f"{p}: the tokenizer has {tok.vocab_size} tokens but the model {mcfg.vocab_size}; "
                        "the files come from different runs")
    tok.pad_to(mcfg.vocab_size)
    model = Classifier(Transformer(mcfg, device="meta"), len(config["label_names"]), config["pooling"])
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if mcfg.tied:
        expected.pop("body.lm_head.weight", None)
    weights = p / "model.safetensors"
    state = read_weights(weights, expected)
    model.load_state_dict(state, strict=False, assign=True)
    if mcfg.tied and model.body.lm_head is not None:
        model.body.lm_head.weight = model.body.wte.weight
    if any(t.is_meta for t in [*model.parameters(), *model.buffers()]):
        raise UserError(f"{weights} does not cover every parameter of the classifier")
    model.eval()
    accuracy_value = config.get("accuracy")
    info = config.get("train") if isinstance(config.get("train"), dict) else {}
    return Finetuned(model, tok, list(config["label_names"]),
                     float(accuracy_value) if isinstance(accuracy_value, int | float) else None, [], info)
