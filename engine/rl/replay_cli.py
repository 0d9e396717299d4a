"""``txe rl record`` (one game between two agents, saved as a game record) and ``txe rl replay`` (a saved
game reviewed move by move by an agent: its best move, the value lost, the blunders)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.clikit import common_parent
from engine.rl.game import GAME_NAMES
from engine.rl.registry import AGENT_HELP, make_agent
from engine.signals import Interrupted, signal_name, stop_on_signals
from engine.tasks import Cancelled, CancelToken
from engine.validate import float_flag, int_flag, seed_flag


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("replay", parents=[common_parent()],
                       help="review a saved game move by move: the agent's best move, value lost, blunders")
    r.add_argument("record", metavar="GAME.json", help="a saved game (txe rl record, or the Arena's Save game...)")
    r.add_argument("--agent", default="default", help=f"the analysing agent: {AGENT_HELP}")
    r.add_argument("--threshold", type=float_flag(0.0, 2.0, lo_open=True), default=0.2,
                   help="value lost (on the [-1, 1] scale) that makes a move a blunder (default 0.2)")
    r.add_argument("--top", type=int_flag(1, 100), default=3, help="the agent's best moves kept per move (JSON)")
    r.add_argument("--seed", type=seed_flag, default=0)
    r.set_defaults(func=cmd_replay)

    c = sub.add_parser("record", parents=[common_parent()], help="play one game between two agents and save it")
    c.add_argument("--game", required=True, choices=GAME_NAMES)
    c.add_argument("--a", required=True, help=f"the agent playing first (player 0): {AGENT_HELP}")
    c.add_argument("--b", required=True, help="the agent playing second (same choices)")
    c.add_argument("--out", required=True, help="the game record to write (JSON)")
    c.add_argument("--seed", type=seed_flag, default=0)
    c.set_defaults(func=cmd_record)


def cmd_record(args: argparse.Namespace) -> dict[str, Any]:
    from engine.files import check_output
    from engine.rl.replay import play_record

    out = check_output(args.out, "--out")
    a = make_agent(args.a, args.game, seed=args.seed)
    b = make_agent(args.b, args.game, seed=args.seed + 1)
    token = CancelToken()
    with stop_on_signals(token) as stop:
        try:
            rec = play_record(args.game, (a, b), (args.a, args.b), seed=args.seed, token=token)
        except Cancelled:
            raise Interrupted(stop.signum or 2, f"stopped by {signal_name(stop.signum or 2)}; nothing saved") from None
    rec.save(out)
    return {"game": rec.game, "players": list(rec.players), "result": rec.result_text(), "returns": rec.returns,
            "moves": rec.player_moves(), "events": len(rec.moves), "out": str(out)}


def cmd_replay(args: argparse.Namespace) -> dict[str, Any]:
    from engine.rl.replay import analyse_game, load_record, summarise

    rec = load_record(args.record)
    agent = make_agent(args.agent, rec.game, seed=args.seed)
    tty_lines = not args.json
    reviews = []
    if tty_lines:
        print(f"{rec.game}: {rec.players[0]} against {rec.players[1]}; {rec.result_text()}. "
              f"Reviewed by {agent.describe()}.")
        print(f"{'#':>3}  {'player':<14} {'played':<28} {'best':<24} {'lost':>6}")
    token = CancelToken()
    with stop_on_signals(token) as stop:
        try:
            for r in analyse_game(rec, agent, token, threshold=args.threshold, top=args.top):
                reviews.append(r)
                if tty_lines:
                    print(_line(rec.players[r.player], r), flush=True)
        except Cancelled:
            pass
    if stop.signum is not None:
        raise Interrupted(stop.signum, f"stopped by {signal_name(stop.signum)} after {len(reviews)} moves")
    out = summarise(rec, reviews, agent.describe(), args.threshold)
    if args.json:
        out["reviews"] = [r.to_dict() for r in reviews]
    else:
        for p in out["per_player"]:
            mean = "-" if p["mean_value_lost"] is None else f"{p['mean_value_lost']:.3f}"
            sys.stdout.write(f"{p['name']}: {p['moves']} moves, {p['disagreed']} disagreements, {p['blunders']} "
                             f"blunders, mean value lost {mean}\n")
        if reviews and not reviews[0].bounded:
            sys.stdout.write(f"{agent.describe()}'s values have no fixed scale: only other choices are marked, "
                             "no blunders.\n")
        out = {"result": out["result"], "agent": out["agent"]}
    return out


def _line(name: str, r: Any) -> str:
    mark = "?? blunder" if r.blunder else "?  other choice" if r.disagreed else ""
    lost = "-" if r.value_lost is None else f"{r.value_lost:.3f}"
    played = f"{r.dice + ' ' if r.dice else ''}{r.text}"
    best = r.best_text if r.best is not None else "-"
    if r.best == r.action or not r.disagreed:  # the move played, or one the agent values as highly
        best = "="
    return f"{r.ply:>3}  {name[:14]:<14} {played[:28]:<28} {best[:24]:<24} {lost:>6}  {mark}".rstrip()

