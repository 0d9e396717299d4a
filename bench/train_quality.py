"""Quality: the nanoGPT CPU recipe, char-level on the default corpus, must reach val loss <= 1.90 in
at most 2,000 steps. Validation text: the plays held out by the by-play split (engine.corpus).
Usage: ``python -m bench.train_quality [--steps 2000]``; prints the loss curve and the wall time.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bench.machine import describe
from engine.events import Evaluation, Finished
from engine.training import TrainConfig, Trainer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = TrainConfig(steps=args.steps, eval_every=250, eval_batches=50, snapshot_every=0, out="")
    t0 = time.perf_counter()
    trainer = Trainer(cfg)
    curve, summary = [], {}
    for event in trainer.run():
        if isinstance(event, Evaluation):
            curve.append((event.step, round(event.metrics['val_loss'], 4)))
            print(f"step {event.step}: val {event.metrics['val_loss']:.4f}", flush=True)
        elif isinstance(event, Finished):
            summary = event.summary
    wall = time.perf_counter() - t0
    first_below = next((s for s, v in curve if v <= 1.90), None)
    print(json.dumps({"machine": describe(), "val_loss": round(summary["val_loss"], 4),
                      "first_step_at_or_below_1.90": first_below, "wall_seconds": round(wall, 1),
                      "train_seconds": round(summary["train_seconds"], 1), "curve": curve}, indent=1))


if __name__ == "__main__":
    main()
