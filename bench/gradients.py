"""Vanishing-gradients benchmark (issue 14): on the long-range recall task (engine.gradients), the norm of the
loss's gradient with respect to the input embedding 50 steps before the output, LSTM against plain RNN.

Target: the plain RNN's gradient at distance 50 at least 100x below the LSTM's; checked at initialisation,
while the LSTM learns, and at every snapshot of the run (also after the LSTM has solved the task, when its
loss, and so every gradient it sends back, is near zero). Run from the repository root::

    python -m bench.gradients [--length 60] [--steps 400] [--seeds 0,1,2] [--arch rnn,gru,lstm,transformer]

Prints, per seed, the LSTM/RNN ratio at distance 50 at step 0, at the end, its lowest over the run and before
the LSTM solved the task, the lowest ratio of the curves each divided by its value at distance 0, the
accuracy of every architecture at the end, and a table of the gradient by distance for the first seed;
``--json FILE`` also writes every snapshot's curves.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from bench.machine import describe
from engine.gradients import ARCH_TITLES, parse_archs, train_recall
from engine.tasks import CancelToken

DISTANCE = 50
TARGET = 100.0


def relative_ratio(snap) -> float:  # noqa: ANN001
    """(LSTM's gradient at DISTANCE / at 0) / (RNN's at DISTANCE / at 0): the decay alone, whatever the loss."""
    return snap.ratio("lstm", "rnn", DISTANCE) * float(snap.grad_norm["rnn"][0] / snap.grad_norm["lstm"][0])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gradients")
    p.add_argument("--length", type=int, default=60)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--every", type=int, default=20)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--arch", default="rnn,gru,lstm,transformer")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    archs = parse_archs(args.arch)
    if not {"rnn", "lstm"} <= set(archs) or args.length <= DISTANCE:
        p.error(f"the target needs rnn and lstm and a length above {DISTANCE}")
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    rows, runs = [], {}
    for seed in seeds:
        token = CancelToken()
        token.sink = lambda s, seed=seed: print(
            f"  seed {seed} step {s.step:>4}: " + "  ".join(f"{a} acc {s.accuracy[a]:.2f}" for a in archs)
            + f"  lstm/rnn @{DISTANCE} {s.ratio('lstm', 'rnn', DISTANCE):.3g}", file=sys.stderr, flush=True)
        run = train_recall(archs, args.length, args.steps, seed=seed, every=args.every, token=token)
        runs[seed] = run
        ratios = [s.ratio("lstm", "rnn", DISTANCE) for s in run.snapshots]
        low = min(range(len(ratios)), key=ratios.__getitem__)
        relative = [relative_ratio(s) for s in run.snapshots]
        solved = next((s.step for s in run.snapshots if s.accuracy["lstm"] == 1.0), None)  # all 64 right
        before = [r for r, s in zip(ratios, run.snapshots, strict=True) if solved is None or s.step < solved]
        rows.append((seed, ratios[0], ratios[-1], ratios[low], run.snapshots[low], min(relative), solved,
                     min(before), run.last))
    seconds = time.perf_counter() - started
    print(f"recall task, T = {args.length} ({runs[seeds[0]].task.describe()}); {args.steps} steps of 32 sequences "
          f"per architecture (Adam 3e-3, clip 1), measured every {args.every} steps on 64 fixed sequences; "
          f"{seconds:.0f} s on {describe()}\n")
    print(f"LSTM / RNN gradient norm at distance {DISTANCE}: at step 0, at the end, the lowest over the run (and "
          f"the step and the LSTM's loss then), the lowest before the LSTM solved the task (every one of the 64 "
          f"measurement sequences right), "
          f"and the lowest of the relative ratio (each curve divided by its own value at distance 0)\n")
    print("| seed | step 0 | end | lowest (step, LSTM loss) | lowest before solved (solved at) | lowest relative | "
          + " | ".join(f"{ARCH_TITLES[a]} accuracy" for a in archs) + " |")
    print("|---:|---:|---:|---:|---:|---:|" + "---:|" * len(archs))
    for seed, r0, r1, lo, at, rel, solved, pre, last in rows:
        print(f"| {seed} | {r0:.3g} | {r1:.3g} | {lo:.3g} (step {at.step}, {at.loss['lstm']:.4f}) | {pre:.3g} "
              f"({'step ' + str(solved) if solved is not None else 'not solved'}) | {rel:.3g} | "
              + " | ".join(f"{last.accuracy[a]:.2f}" for a in archs) + " |")
    first = runs[seeds[0]]
    print(f"\ngradient norm by distance, seed {seeds[0]} (step 0 -> step {first.last.step}):\n")
    shown = [d for d in (0, 1, 5, 10, 20, 30, 40, DISTANCE, args.length - 1) if d < args.length]
    print("| architecture | " + " | ".join(f"t = {d}" for d in shown) + " |")
    print("|---|" + "---:|" * len(shown))
    for a in archs:
        g0, g1 = first.first.grad_norm[a], first.last.grad_norm[a]
        print(f"| {ARCH_TITLES[a]} | " + " | ".join(f"{g0[d]:.1e} \u2192 {g1[d]:.1e}" for d in shown) + " |")
    at_init = all(r[1] >= TARGET for r in rows)
    everywhere = all(r[3] >= TARGET for r in rows)
    learning = all(r[7] >= TARGET for r in rows)
    print(f"\ntarget (RNN at distance {DISTANCE} >= {TARGET:.0f}x below LSTM): at initialisation "
          f"{'met' if at_init else 'NOT met'}; while the LSTM learns (until it gets all 64 right) "
          f"{'met' if learning else 'NOT met'}; at every snapshot {'met' if everywhere else 'NOT met'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"length": args.length, "steps": args.steps, "seconds": seconds,
                       "runs": {str(s): [snap.to_dict() for snap in r.snapshots] for s, r in runs.items()}}, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
