"""The masked language model (issue 13): masked-token accuracy of default-mlm on the held-out plays, beside
the unigram baseline (always the most frequent non-special token of the training plays, scored on the same
masked positions), and default-bpe's next-token accuracy on the same plays for reference.

Usage: ``python -m bench.mlm [--batches 200] [--threads 2]``; prints one JSON object. The held-out plays
are the by-play validation split of Shakespeare (engine.corpus), which neither model saw in training.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from bench.machine import describe
from engine.checkpoint import LoadedModel
from engine.mlm import HAMLET_LINE, fill_mask, masked_accuracy, unigram_counts
from engine.models import open_model
from engine.training import Batches, TrainConfig, prepare_data

SEED = 2024


def held_out(loaded: LoadedModel) -> tuple[np.ndarray, np.ndarray]:
    """(training ids, held-out ids) of the model's corpus and split, with its own tokenizer."""
    saved = loaded.config.get("train") or {}
    cfg = TrainConfig(**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__})
    _, train_ids, val_ids = prepare_data(cfg, loaded.tokenizer)
    return train_ids, val_ids


@torch.no_grad()
def next_token_accuracy(loaded: LoadedModel, ids: np.ndarray, batches: int, batch: int = 32) -> dict[str, float]:
    """Top-1 accuracy and loss of next-token prediction on seeded windows of ``ids``."""
    model, tok = loaded.model, loaded.tokenizer
    data = Batches(ids, model.cfg.context, batch, tok.bos_id)
    gen = torch.Generator().manual_seed(SEED)
    right = total = loss = 0.0
    for _ in range(batches):
        x, y = data.sample(gen)
        logits, batch_loss, _ = model(x, y)
        right += float((logits.argmax(-1) == y).sum())
        loss += float(batch_loss) * y.numel()
        total += y.numel()
    return {"accuracy": right / total, "loss": loss / total, "tokens": int(total)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=200, help="batches of 32 windows of 64 tokens")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    mlm, bpe = open_model("default-mlm"), open_model("default-bpe")
    train_ids, val_ids = held_out(mlm)
    counts = unigram_counts(train_ids, mlm.tokenizer.vocab_size)
    masked = masked_accuracy(mlm.model, mlm.tokenizer, val_ids, args.batches, mlm.model.cfg.context, SEED,
                             train_counts=counts, batch=32)
    on_train = masked_accuracy(mlm.model, mlm.tokenizer, train_ids, args.batches // 4, mlm.model.cfg.context, SEED,
                               train_counts=counts, batch=32)
    nxt = next_token_accuracy(bpe, val_ids, args.batches)
    hamlet = fill_mask(mlm.model, mlm.tokenizer, HAMLET_LINE, top=5)
    print(json.dumps({
        "machine": describe(),
        "held_out_tokens": int(len(val_ids)),
        "default_mlm": {"masked_accuracy": round(masked["accuracy"], 4), "loss": round(masked["loss"], 4),
                        "masked_tokens": masked["masked_tokens"],
                        "unigram_accuracy": round(masked["unigram_accuracy"], 4),
                        "unigram_token": masked["unigram_token"],
                        "masked_accuracy_on_training_plays": round(on_train["accuracy"], 4)},
        "default_bpe_next_token": {k: round(v, 4) if isinstance(v, float) else v for k, v in nxt.items()},
        "hamlet": {"text": HAMLET_LINE, "top5": [[t, round(p, 4)] for t, p in hamlet.candidates[0]]},
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
