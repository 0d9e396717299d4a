"""In-context learning (issue 15): induction heads on repeated segments, and SmolLM2's few-shot accuracy.

Usage:

- ``python -m bench.icl [--minutes 10]``: train the 2-layer, 2-head model of engine.interp.icl on 1 thread
  until the target is met (an induction score >= 0.9 on one head and second-copy loss < 0.2 x first-copy
  loss) or the time is up; prints the measurements, the step and minutes where the target was first met,
  and the final scores.
- ``python -m bench.icl --few-shot [--queries 50]``: SmolLM2-135M-Instruct on every task of
  engine.interp.fewshot at k = 0, 1, 2, 4, 8 (raw prompts), a table, and whether accuracy at k = 8 is at
  least 30 points above k = 0 (the target asks it of three tasks).

Seeds 000 and 003: few-shot prompting ("Few-shots > Zero-shots").
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bench.machine import describe
from engine.events import Evaluation, Finished
from engine.interp.icl import IclConfig, train_icl

KS = [0, 1, 2, 4, 8]


def induction(minutes: float, seed: int) -> dict:
    cfg = IclConfig(steps=0, minutes=minutes, stop_at_target=True, seed=seed)
    print(f"task: V={cfg.vocab} symbols, context {cfg.context}, segments of {cfg.n_min}-{cfg.n_max} tokens, "
          f"{cfg.copies} copies in training sequences; model d={cfg.d}, L={cfg.L}, H={cfg.H}; batch {cfg.batch}, "
          f"lr {cfg.lr:g}; budget {minutes:g} min")
    print(f"{'step':>6} {'min':>6} {'loss':>7} {'first':>7} {'second':>7} {'ratio':>6} {'induction':>9}")
    result = None
    for e in train_icl(cfg):
        if isinstance(e, Evaluation) and (e.step % 500 == 0 or e.metrics["induction_max"] >= 0.9 or e.step == 1):
            m = e.metrics
            print(f"{m['step']:>6} {m['seconds'] / 60:6.2f} {m['loss']:7.3f} {m['first_repeat_loss']:7.3f} "
                  f"{m['second_repeat_loss']:7.3f} {m['loss_ratio']:6.3f} {m['induction_max']:9.3f}", flush=True)
        elif isinstance(e, Finished):
            result = e.result
    last = result.history[-1]
    met = result.target_step is not None
    print(f"target {'met' if met else 'NOT met'}"
          + (f" at step {result.target_step}, {result.target_seconds / 60:.2f} min" if met else
             f" in {result.seconds / 60:.2f} min ({result.steps} steps)"))
    print(f"final: induction {last.induction_max:.3f}, first-copy loss {last.first_repeat_loss:.3f}, second-copy "
          f"loss {last.second_repeat_loss:.3f} (ratio {last.ratio:.3f})")
    for name, m in last.scores.items():
        print(f"  {name:>16}: " + "  ".join(f"{layer}.{h} {v:.2f}" for layer, row in enumerate(m)
                                            for h, v in enumerate(row)))
    return {"target_step": result.target_step, "target_minutes": met and result.target_seconds / 60,
            "steps": result.steps, "minutes": result.seconds / 60, "induction_max": last.induction_max,
            "loss_ratio": last.ratio}


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
