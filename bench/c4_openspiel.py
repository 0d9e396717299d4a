"""Connect Four against OpenSpiel's own MCTS bot (C++, random rollouts, MCTS-Solver), from both seats.

    python -m bench.c4_openspiel                       # the shipped agent at 800 simulations, 100 games a seat
    python -m bench.c4_openspiel --agent runs/c4/agent.safetensors:800sims --games 50 --sims 10000

The opponent is ``pyspiel.MCTSBot`` on OpenSpiel's ``connect_four`` with a ``RandomRolloutEvaluator`` (one
rollout per leaf), UCT constant 2 and ``solve=True``: the bot OpenSpiel's examples play with, run by
OpenSpiel's C++ code, so an independent reference. Both games are kept in lockstep: every move is applied
to our ``ConnectFourState`` and to OpenSpiel's state, and the two must agree on the end and the winner.
Each game gets its own bot seed. Prints one JSON object: per seat wins / draws / losses and the score with
its 95% Wilson interval, and the time per move of each side.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from bench.machine import cpu_model  # noqa: E402
from engine.rl.arena import wilson_interval  # noqa: E402
from engine.rl.connect4 import ConnectFourState  # noqa: E402
from engine.rl.registry import make_agent  # noqa: E402


def openspiel_bot(sims: int, seed: int, uct_c: float = 2.0):
    import pyspiel

    game = pyspiel.load_game("connect_four")
    evaluator = pyspiel.RandomRolloutEvaluator(1, seed)
    return game, pyspiel.MCTSBot(game, evaluator, uct_c, sims, 1000, True, seed, False)


def play(agent, sims: int, agent_seat: int, seed: int, clock: dict[str, float]) -> float:
    """One game; the agent's score (1 win, 0.5 draw, 0 loss)."""
    game, bot = openspiel_bot(sims, seed)
    ours, theirs = ConnectFourState(), game.new_initial_state()
    agent.seed(seed)
    while not ours.is_terminal():
        t = time.perf_counter()
        if ours.current_player() == agent_seat:
            a = agent.step(ours)
            clock["agent"] += time.perf_counter() - t
            clock["agent_moves"] += 1
        else:
            a = int(bot.step(theirs))
            clock["bot"] += time.perf_counter() - t
            clock["bot_moves"] += 1
        ours.apply_action(a)
        theirs.apply_action(a)
        if ours.is_terminal() != theirs.is_terminal():
            raise RuntimeError(f"the two games disagree on the end after {ours.history}")
    r_ours, r_theirs = ours.returns()[agent_seat], theirs.returns()[agent_seat]
    if r_ours != r_theirs:
        raise RuntimeError(f"the two games disagree on the result of {ours.history}")
    return (r_ours + 1) / 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", default="default:800sims")
    ap.add_argument("--games", type=int, default=100, help="games per seat")
    ap.add_argument("--sims", type=int, default=10_000, help="the OpenSpiel bot's simulations per move")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seat", choices=("first", "second", "both"), default="both",
                    help="the agent's seat (two processes, one a seat, use both cores)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    agent = make_agent(args.agent, "connect4")
    result: dict[str, object] = {"agent": args.agent, "opponent": f"pyspiel.MCTSBot({args.sims} sims, uct_c 2, "
                                 "random rollouts, solve)", "games_per_seat": args.games,
                                 "machine": {"nproc": os.cpu_count(), "cpu": cpu_model()}}
    start = time.monotonic()
    for seat in {"first": (0,), "second": (1,), "both": (0, 1)}[args.seat]:
        clock = {"agent": 0.0, "bot": 0.0, "agent_moves": 0, "bot_moves": 0}
        scores = [play(agent, args.sims, seat, args.seed * 100_003 + 2 * g + seat, clock) for g in range(args.games)]
        wins, draws = scores.count(1.0), scores.count(0.5)
        lo, hi = wilson_interval(sum(scores), len(scores))
        row = {"wins": wins, "draws": draws, "losses": len(scores) - wins - draws,
               "score": round(sum(scores) / len(scores), 4), "score_ci95": [round(lo, 4), round(hi, 4)],
               "agent_ms_per_move": round(1000 * clock["agent"] / max(1, clock["agent_moves"]), 1),
               "bot_ms_per_move": round(1000 * clock["bot"] / max(1, clock["bot_moves"]), 1)}
        result["first" if seat == 0 else "second"] = row
        print(json.dumps({"seat": seat, **row}), file=sys.stderr)
    result["elapsed_s"] = round(time.monotonic() - start, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
