"""``txe rl train | eval | play``: games and game-playing agents from the command line."""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any

from engine.clikit import common_parent
from engine.errors import UserError
from engine.rl.game import GAME_NAMES, get_game
from engine.rl.registry import AGENT_HELP, make_agent


def register(subparsers: argparse._SubParsersAction) -> None:
    rl = subparsers.add_parser("rl", help="train, evaluate and play game agents")
    sub = rl.add_subparsers(dest="rl_command", required=True, parser_class=type(rl))

    t = sub.add_parser("train", parents=[common_parent()], help="train an agent by self-play")
    t.add_argument("--game", required=True, choices=GAME_NAMES)
    t.add_argument("--algo", required=True, choices=("q", "sarsa", "td", "selfplay"))
    budget = t.add_mutually_exclusive_group()
    budget.add_argument("--games", type=int, help="number of training games")
    budget.add_argument("--minutes", type=float, help="wall-clock training budget")
    t.add_argument("--out", required=True, help="folder for the agent and stats.jsonl")
    t.add_argument("--resume", action="store_true", help="continue from the agent already in --out")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--lr", type=float, help="learning rate eta")
    t.add_argument("--gamma", type=float, help="discount (q, sarsa)")
    t.add_argument("--epsilon-start", type=float, help="exploration at the start (q, sarsa, td)")
    t.add_argument("--epsilon-end", type=float, help="exploration after 80%% of the games")
    t.add_argument("--lambda", dest="lam", type=float, help="trace decay lambda (td)")
    t.add_argument("--hidden", type=int, help="hidden units (td, selfplay)")
    t.add_argument("--sims", type=int, help="MCTS simulations per self-play move (selfplay)")
    t.add_argument("--eval-every", type=int, help="evaluate against the reference opponents every N games")
    t.add_argument("--eval-games", type=int, help="games per reference opponent at each evaluation")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", parents=[common_parent()], help="play two agents against each other")
    e.add_argument("--game", required=True, choices=GAME_NAMES)
    e.add_argument("--a", required=True, help=f"agent A: {AGENT_HELP}")
    e.add_argument("--b", required=True, help="agent B (same choices)")
    e.add_argument("--games", type=int, default=100)
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(func=cmd_eval)

    p = sub.add_parser("play", parents=[common_parent()], help="play against an agent in the terminal")
    p.add_argument("--game", required=True, choices=GAME_NAMES)
    p.add_argument("--agent", default="default", help=f"the opponent: {AGENT_HELP}")
    p.add_argument("--second", action="store_true", help="let the agent move first")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=cmd_play)


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from engine.rl.train import train

    overrides = {k: getattr(args, k) for k in ("lr", "gamma", "epsilon_start", "epsilon_end", "lam", "hidden",
                                               "sims", "eval_every", "eval_games")}
    tty = sys.stderr.isatty() and not args.json
    summary: dict[str, Any] = {}
    for stats in train(args.game, args.algo, games=args.games, minutes=args.minutes, out=args.out,
                       seed=args.seed, resume=args.resume, threads=args.threads or 1, **overrides):
        if stats["kind"] == "done":
            summary = stats
        elif tty:
            sys.stderr.write(_stats_line(stats) + "\n")
    summary.pop("kind", None)
    return summary


def _stats_line(s: dict[str, Any]) -> str:
    if s["kind"] == "progress":
        return (f"games {s['games']}  {s['games_per_s']:.0f} games/s  td error {s['td_error']:.4f}  "
                f"epsilon {s['epsilon']:.3f}")
    parts = [f"{k}: W {v['win']:.2f} D {v['draw']:.2f} L {v['loss']:.2f}" for k, v in s.items()
             if isinstance(v, dict)]
    return f"eval at {s['games']} games  " + "  ".join(parts)


def cmd_eval(args: argparse.Namespace) -> dict[str, Any]:
    from engine.rl.arena import evaluate

    if args.games < 1:
        raise UserError("--games must be at least 1.")
    game = get_game(args.game)
    a = make_agent(args.a, game.name, seed=args.seed)
    b = make_agent(args.b, game.name, seed=args.seed + 1)
    return evaluate(game, a, b, args.games, seed=args.seed)


def cmd_play(args: argparse.Namespace) -> dict[str, Any]:
    game = get_game(args.game)
    agent = make_agent(args.agent, game.name, seed=args.seed)
    rng = random.Random(args.seed)
    human = 1 if args.second else 0
    state = game.new_initial_state()
    print(f"You are {'XO'[human]}. Type a move (or 'q' to quit).")
    while not state.is_terminal():
        if state.is_chance_node():
            state.apply_random_chance(rng)
            continue
        print("\n" + str(state))
        if state.current_player() != human:
            a = agent.step(state)
            print(f"{agent.describe()} plays {state.action_to_string(a)}")
            state.apply_action(a)
            continue
        legal = state.legal_actions()
        if game.name == "backgammon":
            for i in legal:
                print(f"  {i}: {state.action_to_string(i)}")
        else:
            print("legal: " + " ".join(state.action_to_string(i) for i in legal))
        try:
            text = input("your move> ")
        except EOFError:
            raise UserError("Input ended before the game did.") from None
        if text.strip().lower() in ("q", "quit", "exit"):
            return {"game": game.name, "result": "quit", "moves": len(state.history)}
        try:
            a = state.string_to_action(text)
        except UserError as e:
            print(e)
            continue
        state.apply_action(a)
    print("\n" + str(state))
    r = state.returns()[human]
    result = "win" if r > 0 else "loss" if r < 0 else "draw"
    print(f"You {'won' if r > 0 else 'lost' if r < 0 else 'drew'}.")
    return {"game": game.name, "result": result, "points": r, "moves": len(state.history)}
