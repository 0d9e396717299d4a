"""Backgammon with gammons: points per game of a TD agent against pubeval and GNU Backgammon's 0-ply network.

    python -m bench.bg_gammons --agent runs/bg-g/agent.safetensors --games 1000   # evaluate a saved agent
    python -m bench.bg_gammons --minutes 60 --out runs/bg-g                        # warm-start, train, evaluate
    python -m bench.bg_gammons --agent assets/agents/backgammon.safetensors --plies 2 --opponents gnubg

Training (``--minutes``): a 5-output network (GNU Backgammon's outputs) warm-started from the shipped
1-output agent (``--init``), TD(lambda) self-play at ``--lr``/``--lambda``, evaluated every ``--eval-every``
games against random, pubeval and gnubg (the learning curve is ``out/stats.jsonl``). Evaluation: for each
search depth and opponent, ``--games`` games alternating colours (in blocks of ``--block`` games, block k
on seed ``seed * 1000 + k``, with running totals on stderr), with wins, points per game with a 95%
interval (mean +- 1.96 sd / sqrt(n)) and gammons / backgammons won and lost. Prints one line per match and
one JSON object at the end (``--json-out`` also writes it). One thread (the machine is shared).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.machine import cpu_model  # noqa: E402
from engine.events import Evaluation, Finished  # noqa: E402
from engine.files import atomic_write_text  # noqa: E402
from engine.rl.arena import evaluate, wilson_interval  # noqa: E402
from engine.rl.cli import points_line  # noqa: E402
from engine.rl.game import get_game  # noqa: E402
from engine.rl.registry import make_agent  # noqa: E402
from engine.rl.train import train  # noqa: E402


def training_minutes(folder: Path) -> float | None:
    """Training wall time of a run folder, from its stats.jsonl ("done" records of each stage)."""
    stats = folder / "stats.jsonl"
    if not stats.is_file():
        return None
    done = [json.loads(line) for line in stats.read_text().splitlines() if '"done"' in line]
    return sum(d.get("elapsed_s", 0.0) for d in done) / 60 if done else None


def combine(blocks: list[dict]) -> dict:
    """One result from blocks of games: counts add up; the points' mean and 95% interval from the counts of
    each outcome (+-1, +-2, +-3)."""
    n = sum(b["games"] for b in blocks)
    counts = {k: sum(b[k] for b in blocks) for k in ("a_wins", "draws", "b_wins", "a_gammons", "a_backgammons",
                                                      "b_gammons", "b_backgammons")}
    values = {1: counts["a_wins"] - counts["a_gammons"] - counts["a_backgammons"], 2: counts["a_gammons"],
              3: counts["a_backgammons"], -1: counts["b_wins"] - counts["b_gammons"] - counts["b_backgammons"],
              -2: counts["b_gammons"], -3: counts["b_backgammons"]}
    mean = sum(v * c for v, c in values.items()) / n
    var = sum(c * (v - mean) ** 2 for v, c in values.items()) / max(n - 1, 1)
    half = 1.96 * math.sqrt(var / n)
    lo, hi = wilson_interval(counts["a_wins"] + 0.5 * counts["draws"], n)
    return {**blocks[0], **counts, "games": n, "a_score": (counts["a_wins"] + 0.5 * counts["draws"]) / n,
            "a_score_ci95": [round(lo, 4), round(hi, 4)], "a_points": mean,
            "a_points_ci95": [round(mean - half, 4), round(mean + half, 4)], "seed": blocks[0]["seed"] // 1000}


def evaluate_in_blocks(a, b, games: int, seed: int, block: int, label: str) -> dict:
    """``evaluate`` in blocks of ``block`` games (block k on seed ``seed * 1000 + k``), the running total
    printed after each, so a stopped run still has its numbers."""
    game, blocks, t0 = get_game("backgammon"), [], time.monotonic()
    for k in range((games + block - 1) // block):
        blocks.append(evaluate(game, a, b, min(block, games - k * block), seed=seed * 1000 + k))
        r = combine(blocks)
        print(f"  {label} after {r['games']} games ({time.monotonic() - t0:.0f} s): " + points_line(r),
              file=sys.stderr, flush=True)
    return combine(blocks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--agent", help="a saved TD backgammon agent to evaluate")
    src.add_argument("--minutes", type=float, help="train this long first (warm start, see --init)")
    ap.add_argument("--out", default="runs/bg-gammons", help="training folder (with --minutes)")
    ap.add_argument("--init", default="default", help="the agent the 5-output network starts from")
    ap.add_argument("--lr", type=float, default=0.04)
    ap.add_argument("--lambda", dest="lam", type=float, default=0.7)
    ap.add_argument("--eval-every", type=int, default=10_000)
    ap.add_argument("--eval-games", type=int, default=400)
    ap.add_argument("--games", type=int, default=1000, help="evaluation games per opponent and depth")
    ap.add_argument("--plies", default="1,2", help="search depths to evaluate, e.g. 1,2")
    ap.add_argument("--opponents", default="pubeval,gnubg")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--block", type=int, default=50, help="games per block (running totals after each)")
    ap.add_argument("--json-out", help="also write the results here")
    args = ap.parse_args(argv)

    train_info: dict[str, object] = {}
    if args.minutes is not None:
        t0 = time.monotonic()
        for event in train("backgammon", "td", minutes=args.minutes, out=args.out, seed=args.seed, outputs=5,
                           init=args.init, lr=args.lr, lam=args.lam, eval_every=args.eval_every,
                           eval_games=args.eval_games, overwrite=True):
            if isinstance(event, Evaluation):
                print(f"eval at {event.step} games: " + "  ".join(
                    f"{k} {v['score']:.3f} ({v.get('points', 0.0):+.2f} pts)" for k, v in event.metrics.items()
                    if isinstance(v, dict)), file=sys.stderr, flush=True)
            elif isinstance(event, Finished):
                train_info = {k: event.summary[k] for k in ("games", "games_this_run", "games_per_s", "hparams")}
        train_info["minutes"] = (time.monotonic() - t0) / 60
        agent_path = str(Path(args.out) / "agent.safetensors")
    else:
        agent_path = args.agent
        minutes = training_minutes(Path(agent_path).parent)
        if minutes is not None:
            train_info["minutes_in_folder"] = minutes

    results = []
    for plies in (int(p) for p in args.plies.split(",")):
        for opp in args.opponents.split(","):
            a = make_agent(f"{agent_path}:{plies}ply", "backgammon", seed=args.seed)
            b = make_agent(opp, "backgammon", seed=args.seed + 1)
            t0 = time.monotonic()
            r = evaluate_in_blocks(a, b, args.games, args.seed, args.block, f"{plies} ply vs {opp}")
            r.update(plies=plies, opponent=opp, seconds=time.monotonic() - t0)
            print(f"{plies} ply: " + points_line(r), flush=True)
            results.append(r)
    report = {"machine": {"nproc": os.cpu_count(), "cpu": cpu_model()}, "agent": agent_path,
              "training": train_info, "results": results}
    text = json.dumps(report)
    print(text)
    if args.json_out:
        atomic_write_text(Path(args.json_out), text + "\n", "the benchmark results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
