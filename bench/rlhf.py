"""RLHF with a scripted judge on the default model (issue 17's targets).

Usage: ``python -m bench.rlhf [--judge metre] [--pairs 2000] [--minutes 10] [--dpo-steps 300]``

1. 2,000 preference pairs: two lines sampled per training prompt from the default model, the judge's verdict.
2. A reward model (the default model's architecture with a scalar head, Bradley-Terry); its accuracy on
   held-out pairs (prompts it never saw). Target: at least 0.8.
3. PPO against it with a KL penalty, for at most ``--minutes`` of wall time. Then, on 200 new prompts, one
   line from the start model and one from the tuned model: how often the judge prefers the tuned one (ties
   count a half). Target: at least 75%. The KL of the tuned model from the start is reported.
4. DPO on the same pairs (``--dpo-steps`` steps of 16 pairs), measured the same way, beside it.

Prints the machine, the settings and one JSON object; the numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from bench.machine import describe
from engine.checkpoint import load_checkpoint
from engine.events import Evaluation, Finished, Progress
from engine.rlhf.evaluate import compare_policies
from engine.rlhf.judges import make_judge
from engine.rlhf.prefs import judge_pairs, read_pairs, write_pairs
from engine.rlhf.reward import train_reward_model
from engine.rlhf.rollout import verse_prompts
from engine.rlhf.train import RlhfConfig, RlhfTrainer


def last(events, every: int = 0, label: str = ""):  # noqa: ANN001, ANN201
    """Run a generator of events; print a line every ``every`` progress steps; the Finished event."""
    for e in events:
        if isinstance(e, Progress) and every and (e.step % every == 0 or e.step == 1):
            shown = {k: round(v, 3) for k, v in e.metrics.items() if k in ("reward", "kl", "length", "judge",
                                                                              "loss", "dpo_loss", "margin")}
            print(f"{label} step {e.step:>5} {e.elapsed:7.1f} s {shown}", flush=True)
        elif isinstance(e, Evaluation) and label == "reward model":
            print(f"{label} step {e.step:>5} held-out accuracy {e.metrics['heldout_accuracy']:.3f}", flush=True)
        elif isinstance(e, Finished):
            return e
    raise RuntimeError("the run ended without a result")


def tune(start, cfg: RlhfConfig, rm, pairs, judge, prompts: int, seed: int) -> dict:  # noqa: ANN001
    t0, cpu0 = time.perf_counter(), time.process_time()
    fin = last(RlhfTrainer(start, cfg, rm, pairs, judge).run(), 10, cfg.method)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    m = compare_policies(start.model, fin.result.policy, start.tokenizer, rm, judge, n=prompts, seed=seed)
    return {"steps": fin.result.steps, "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--judge", default="metre")
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--pairs-file", help="reuse pairs written by an earlier run (JSONL)")
    ap.add_argument("--rm-steps", type=int, default=400)
    ap.add_argument("--minutes", type=float, default=10.0, help="PPO's wall-time budget")
    ap.add_argument("--beta", type=float, default=0.05)
    ap.add_argument("--dpo-steps", type=int, default=300)
    ap.add_argument("--prompts", type=int, default=200, help="new prompts the models are compared on")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-dpo", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    judge = make_judge(args.judge)
    start = load_checkpoint(None)
    print(json.dumps({"machine": describe(), "judge": judge.name, "rule": judge.describe(), "args": vars(args)}))
    out: dict = {"judge": judge.name, "load_before": round(os.getloadavg()[0], 2)}
    t0 = time.perf_counter()
    if args.pairs_file and os.path.exists(args.pairs_file):
        pairs = read_pairs(args.pairs_file)[:args.pairs]
    else:
        fin = last(judge_pairs(start.model, start.tokenizer, judge, verse_prompts(which="train"), args.pairs,
                               args.seed))
        pairs = fin.result
        out["pairs_drawn"] = fin.summary["drawn"]
        if args.pairs_file:
            write_pairs(pairs, args.pairs_file)
    out["pairs"], out["pairs_seconds"] = len(pairs), round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    rm_fin = last(train_reward_model(start, pairs, steps=args.rm_steps, seed=args.seed), 100, "reward model")
    rm = rm_fin.result
    out["reward_model"] = {"heldout_accuracy": round(rm.heldout_accuracy, 4), "heldout_pairs": rm.info["heldout_pairs"],
                           "train_pairs": rm.info["train_pairs"], "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps({"reward_model": out["reward_model"]}), flush=True)
    ppo = RlhfConfig(method="ppo", steps=1_000_000, minutes=args.minutes, beta=args.beta, seed=args.seed)
    out["ppo"] = tune(start, ppo, rm, pairs, judge, args.prompts, args.seed + 7)
    print(json.dumps({"ppo": {k: v for k, v in out["ppo"].items() if k != "examples"}}), flush=True)
    if not args.skip_dpo:
        dpo = RlhfConfig(method="dpo", steps=args.dpo_steps, lr=5e-5, seed=args.seed, every=50)
        out["dpo"] = tune(start, dpo, rm, pairs, judge, args.prompts, args.seed + 7)
        print(json.dumps({"dpo": {k: v for k, v in out["dpo"].items() if k != "examples"}}), flush=True)
    out["load_after"] = round(os.getloadavg()[0], 2)
    out["targets"] = {"reward_model_heldout_accuracy_at_least_0.8": rm.heldout_accuracy >= 0.8,
                      "ppo_judge_win_rate_at_least_0.75": out["ppo"]["judge_win_rate"] >= 0.75,
                      "ppo_within_minutes": out["ppo"]["wall_seconds"] <= args.minutes * 60 + 5}
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
