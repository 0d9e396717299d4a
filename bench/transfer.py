"""Transfer benchmark (issue 13): on the genre task, pre-trained-then-fine-tuned vs the same architecture
trained from scratch with the same budget, by number of labelled speeches.

Target: pre-trained beats scratch by at least 10 points of accuracy at the smallest size, and the gap
shrinks as the size grows. Run from the repository root::

    python -m bench.transfer [--model default] [--sizes 100,300,1000,3000] [--seeds 0,1,2] [--steps 150]

Prints a markdown table (sizes x mean +- std for both, gap) and the machine; ``--json FILE`` also writes
the per-seed accuracies.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from bench.machine import describe
from engine.models import open_model
from engine.tasks import CancelToken
from engine.transfer import transfer_curve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.transfer")
    p.add_argument("--model", default="default")
    p.add_argument("--sizes", default="100,300,1000,3000")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--epochs", type=float, default=4.0, help="at least this many passes over each size")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = tuple(int(v) for v in args.sizes.split(","))
    seeds = tuple(int(v) for v in args.seeds.split(","))
    base = open_model(args.model)
    token = CancelToken()
    started = time.perf_counter()
    token.sink = lambda ev: print(f"  {ev[1]:>5} seed {ev[2]} {ev[3]:<10} {ev[4]:.3f}  "
                                  f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    tr = transfer_curve(base, "genre", sizes, seeds, steps=args.steps, epochs=args.epochs, token=token)
    seconds = time.perf_counter() - started
    pm, ps, sm, ss, gap = tr.pretrained_mean(), tr.pretrained_std(), tr.scratch_mean(), tr.scratch_std(), tr.gap()
    budget = f"{args.steps} steps of 16" + (f" or {args.epochs:g} epochs if more" if args.epochs else "")
    print(f"model {args.model}, {budget}, seeds {args.seeds}, validation {tr.val_size} speeches "
          f"of held-out plays; {seconds:.0f} s on {describe()}\n")
    print("| labelled speeches | pre-trained | from scratch | gap (points) |")
    print("|---:|---:|---:|---:|")
    for i, n in enumerate(tr.sizes):
        print(f"| {n:,} | {100 * pm[i]:.1f} ± {100 * ps[i]:.1f} | {100 * sm[i]:.1f} ± {100 * ss[i]:.1f} "
              f"| {100 * gap[i]:+.1f} |")
    met = gap[0] >= 0.10 and all(b <= a for a, b in zip(gap, gap[1:], strict=False))
    print(f"\ntarget (gap >= 10 points at {tr.sizes[0]}, shrinking): {'met' if met else 'NOT met'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "sizes": tr.sizes, "seeds": list(seeds), "steps": args.steps,
                       "pretrained": tr.pretrained, "scratch": tr.scratch, "seconds": seconds}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
