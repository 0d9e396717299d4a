"""In-context learning (issue 15): induction heads on repeated segments, and SmolLM2's few-shot accuracy.

Usage:

- ``python -m bench.icl [--minutes 10]``: train the 2-layer, 2-head model of engine.interp.icl on 1 thread
  until the target is met (an induction score >= 0.9 on one head and second-copy loss < 0.2 x first-copy
  loss) or the time is up; prints the measurements, the step, CPU seconds and wall seconds where the
  target was first met, the machine's load average during the run, and the final scores.
- ``python -m bench.icl --few-shot [--queries 50]``: SmolLM2-135M-Instruct on every task of
  engine.interp.fewshot at k = 0, 1, 2, 4, 8 (raw prompts), a table, and whether accuracy at k = 8 is at
  least 30 points above k = 0 (the target asks it of three tasks).

Seeds 000 and 003: few-shot prompting ("Few-shots > Zero-shots").
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from bench.machine import describe
from engine.events import Evaluation, Finished
from engine.interp.icl import INDUCTION_TARGET, LOSS_RATIO_TARGET, IclConfig, train_icl

KS = [0, 1, 2, 4, 8]


def induction(minutes: float, seed: int) -> dict:
    """Train until the target is met or ``minutes`` of training time are up. Besides the engine's training
    seconds (IclResult.seconds: the steps only), the bench clocks what a user would wait for: CPU time of
    this thread (time.thread_time, measurements included) and wall time from the start; the machine's load
    average is sampled at every measurement, since other work on the cores stretches wall time."""
    cfg = IclConfig(steps=0, minutes=minutes, stop_at_target=True, seed=seed)
    print(f"task: V={cfg.vocab} symbols, context {cfg.context}, segments of {cfg.n_min}-{cfg.n_max} tokens, "
          f"{cfg.copies} copies in training sequences; model d={cfg.d}, L={cfg.L}, H={cfg.H}, mlp {cfg.mlp}, "
          f"{cfg.positional} positions; batch {cfg.batch}, lr {cfg.lr:g}; budget {minutes:g} min")
    print(f"{'step':>6} {'cpu s':>7} {'wall s':>7} {'load':>5} {'loss':>7} {'first':>7} {'second':>7} {'ratio':>6} "
          f"{'induction':>9}")
    result, met_at, loads = None, None, [os.getloadavg()[0]]
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    for e in train_icl(cfg):
        if isinstance(e, Evaluation):
            m = e.metrics
            cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
            loads.append(os.getloadavg()[0])
            hit = met_at is None and m["induction_max"] >= INDUCTION_TARGET and m["loss_ratio"] < LOSS_RATIO_TARGET
            if hit:
                met_at = {"step": m["step"], "cpu_seconds": round(cpu, 1), "wall_seconds": round(wall, 1)}
            if e.step % 250 == 0 or e.step == 1 or hit:
                print(f"{m['step']:>6} {cpu:7.1f} {wall:7.1f} {loads[-1]:5.2f} {m['loss']:7.3f} "
                      f"{m['first_repeat_loss']:7.3f} {m['second_repeat_loss']:7.3f} {m['loss_ratio']:6.3f} "
                      f"{m['induction_max']:9.3f}", flush=True)
        elif isinstance(e, Finished):
            result = e.result
    last = result.history[-1]
    load = {"mean": round(sum(loads) / len(loads), 2), "max": round(max(loads), 2)}
    print(f"1-minute load average during the run: mean {load['mean']}, max {load['max']} ({os.cpu_count()} cores)")
    if met_at:
        print(f"target met at step {met_at['step']}: {met_at['cpu_seconds']:.1f} s CPU (1 thread), "
              f"{met_at['wall_seconds']:.1f} s wall ({result.target_seconds:.1f} s in training steps)")
    else:
        print(f"target NOT met in {result.seconds / 60:.2f} min of training ({result.steps} steps)")
    print(f"final: induction {last.induction_max:.3f}, first-copy loss {last.first_repeat_loss:.3f}, second-copy "
          f"loss {last.second_repeat_loss:.3f} (ratio {last.ratio:.3f})")
    for name, m in last.scores.items():
        print(f"  {name:>16}: " + "  ".join(f"{layer}.{h} {v:.2f}" for layer, row in enumerate(m)
                                            for h, v in enumerate(row)))
    return {"target": met_at, "steps": result.steps, "train_seconds": round(result.seconds, 1),
            "induction_max": last.induction_max, "loss_ratio": last.ratio, "load_average": load}


def few_shot_table(queries: int) -> dict:
    from engine.interp.fewshot import few_shot, load_task, task_names
    from engine.models import open_model

    loaded = open_model("smollm2")
    print(f"SmolLM2-135M-Instruct, raw prompts, {queries} queries per task and k")
    print(f"{'task':>12} " + " ".join(f"{'k=' + str(k):>6}" for k in KS) + "  k8-k0  >= 30 points")
    out, met = {}, 0
    for name in task_names():
        t0 = time.perf_counter()
        r = few_shot(loaded, load_task(name), KS, queries)
        acc = r.accuracy_by_k
        gain = acc[8] - acc[0]
        met += gain >= 0.3
        print(f"{name:>12} " + " ".join(f"{acc[k]:6.2f}" for k in KS)
              + f"  {gain:+.2f}  {'yes' if gain >= 0.3 else 'no'}   ({time.perf_counter() - t0:.0f} s)", flush=True)
        out[name] = {str(k): v for k, v in acc.items()}
    print(f"tasks with k=8 at least 30 points above k=0: {met} of {len(out)} (target: 3)")
    return {"tasks": out, "met": met}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--few-shot", action="store_true", help="SmolLM2 few-shot accuracy instead of induction")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(describe())
    r = few_shot_table(args.queries) if args.few_shot else induction(args.minutes, args.seed)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
