"""Training throughput: our trainer against a minimal reference loop, side by side in one run.

Recipe (nanoGPT's CPU one): 4 layers, 4 heads, d=128, block 64, batch 12, char-level Shakespeare.
The three loops run in interleaved rounds (reference, ours with probes off, ours with a probe snapshot
every 50 steps), so drifting machine load hits all three alike; each throughput is the median over
rounds, and the ratios are what we claim. Usage: ``python -m bench.train_throughput [--rounds 6]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from bench.machine import describe
from bench.reference_gpt import ReferenceLoop
from engine.events import Progress
from engine.training import TrainConfig, Trainer


def timed_steps(gen, n: int) -> float:
    """Seconds to pull n Progress events (plus whatever the generator does between them) from gen."""
    t0 = time.perf_counter()
    seen = 0
    for event in gen:
        if isinstance(event, Progress):
            seen += 1
            if seen == n:
                break
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps-per-round", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = args.steps_per_round
    total = args.rounds * n + 10
    common = dict(steps=total + 100, eval_every=0, autosave_every=0, out="")
    ours = Trainer(TrainConfig(snapshot_every=0, **common))
    probed = Trainer(TrainConfig(snapshot_every=50, **common))
    tokens_per_step = 12 * 64
    ref = ReferenceLoop(ours.train_data.ids, V=ours.tokenizer.vocab_size)
    ours_gen, probed_gen = ours.run(), probed.run()
    # warm-up: first steps allocate and fill caches
    ref.steps(10)
    timed_steps(ours_gen, 10)
    timed_steps(probed_gen, 10)
    rates: dict[str, list[float]] = {"reference": [], "ours": [], "ours_probed": []}
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        ref.steps(n)
        rates["reference"].append(n * tokens_per_step / (time.perf_counter() - t0))
        rates["ours"].append(n * tokens_per_step / timed_steps(ours_gen, n))
        rates["ours_probed"].append(n * tokens_per_step / timed_steps(probed_gen, n))
    med = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "machine": describe(),
        "tokens_per_s": {k: round(v) for k, v in med.items()},
        "ratio_ours": round(med["ours"] / med["reference"], 3),
        "ratio_ours_probed": round(med["ours_probed"] / med["reference"], 3),
        "rounds": args.rounds, "steps_per_round": n,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
