"""Strength benchmark of the trained agents: train within the budget, then evaluate with ``txe rl eval``.

    python -m bench.rl_strength --game tictactoe   # Q-learning, <= 60 s, 1,000 games vs perfect/random
    python -m bench.rl_strength --game connect4 --minutes 30  # self-play + search, vs mcts:200 and mcts:1000
    python -m bench.rl_strength --game backgammon --minutes 120  # TD(lambda), 2,000 games vs pubeval at 1 and 2 ply

``--agent PATH`` skips training and evaluates a saved agent; ``--copy-to`` copies the trained agent
(e.g. into assets/agents/). Prints one JSON object with the machine, the training summary and the
evaluations. Uses one thread (the machine is shared).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from bench.machine import cpu_model  # noqa: E402
from engine.events import Evaluation, Finished  # noqa: E402
from engine.rl.cli import cmd_eval  # noqa: E402
from engine.rl.registry import make_agent  # noqa: E402
from engine.rl.train import train  # noqa: E402

PLAN = {
    "tictactoe": {"algo": "q", "minutes": 1.0, "games": 100_000,
                  "opponents": [("perfect", 1000), ("random", 1000)], "search": ("",)},
    # the self-play agent is chosen during training by 400-simulation games, and plays with 800
    "connect4": {"algo": "selfplay", "minutes": 30.0, "opponents": [("mcts:200", 200), ("mcts:1000", 200)],
                 "search": (":800sims",)},
    "backgammon": {"algo": "td", "minutes": 120.0, "opponents": [("pubeval", 2000)], "search": (":1ply", ":2ply")},
}


def machine() -> dict[str, object]:
    model = cpu_model()
    return {"nproc": os.cpu_count(), "cpu": model, "torch_threads": torch.get_num_threads()}


def _number(text: str) -> float | int | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--game", required=True, choices=sorted(PLAN))
    ap.add_argument("--minutes", type=float, help="training budget (default: the issue's budget)")
    ap.add_argument("--games", type=int, help="training games instead of a time budget")
    ap.add_argument("--out", default=None, help="training folder (default: runs/rl-<game>)")
    ap.add_argument("--agent", help="evaluate this saved agent instead of training")
    ap.add_argument("--eval-games", type=int, help="games per opponent (default: the issue's numbers)")
    ap.add_argument("--copy-to", help="copy the trained agent file here (e.g. assets/agents/)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                    help="override a training hyperparameter (the game's GameInfo.training), e.g. eval_games=60")
    ap.add_argument("--last", action="store_true",
                    help="evaluate the last agent, not the best one kept during training")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    plan = PLAN[args.game]
    result: dict[str, object] = {"game": args.game, "machine": machine()}
    agent = args.agent
    if agent is None:
        out = Path(args.out or f"runs/rl-{args.game}")
        minutes = args.minutes if args.minutes is not None or args.games else plan["minutes"]
        games = args.games or (plan.get("games") if args.minutes is None else None)  # whichever ends first
        summary = {}
        overrides = {k: _number(v) for k, v in (kv.split("=", 1) for kv in args.hp)}
        for event in train(args.game, plan["algo"], games=games, minutes=minutes, out=out,
                           seed=args.seed, **overrides):
            if isinstance(event, Evaluation):
                print(json.dumps(event.metrics), file=sys.stderr)
            elif isinstance(event, Finished):
                summary = event.summary
        result["training"] = {k: summary[k] for k in ("algo", "games", "elapsed_s", "games_per_s", "hparams",
                                                      "best_score")}
        # the best agent against the strongest reference, as kept by training (self-play strength is noisy)
        agent = summary["agent"] if args.last or not summary.get("best_agent") else summary["best_agent"]
        if args.copy_to:  # shipped with the (deepest) search it was measured with
            shipped = make_agent(f"{agent}{plan['search'][-1]}", args.game)
            shipped.save(Path(args.copy_to))
    result["agent"] = agent
    evals = []
    for a in (f"{agent}{search}" for search in plan["search"]):
        for opponent, n in plan["opponents"]:
            ns = argparse.Namespace(game=args.game, a=a, b=opponent, games=args.eval_games or n, seed=args.seed)
            evals.append(cmd_eval(ns))
            print(json.dumps(evals[-1]), file=sys.stderr)
    result["eval"] = evals
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
