"""``txe rl train | eval | analyse | play | ladder | replay | record``: games and game-playing agents
from the command line."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

from engine.clikit import common_parent
from engine.errors import UserError
from engine.events import Evaluation, Finished, Progress
from engine.rl.game import GAME_NAMES, get_game
from engine.rl.limits import MAX_GAMES, MAX_HIDDEN, MAX_SIMS
from engine.rl.registry import AGENT_HELP, make_agent
from engine.rl.search_trace import MAX_INSPECT_SIMS
from engine.signals import Interrupted, signal_name, stop_on_signals
from engine.tasks import CancelToken
from engine.validate import float_flag, int_flag, seed_flag


def register(subparsers: argparse._SubParsersAction) -> None:
    rl = subparsers.add_parser("rl", help="train, evaluate and play game agents")
    sub = rl.add_subparsers(dest="rl_command", required=True, parser_class=type(rl))

    t = sub.add_parser("train", parents=[common_parent()], help="train an agent by self-play")
    t.add_argument("--game", required=True, choices=GAME_NAMES)
    t.add_argument("--algo", required=True, choices=("q", "sarsa", "td", "selfplay"))
    budget = t.add_mutually_exclusive_group()
    budget.add_argument("--games", type=int_flag(1, MAX_GAMES), help="number of training games")
    budget.add_argument("--minutes", type=float_flag(0.0, 100_000.0, lo_open=True), help="wall-clock training budget")
    t.add_argument("--out", required=True, help="folder for the agent and stats.jsonl")
    t.add_argument("--resume", action="store_true", help="continue from the agent already in --out")
    t.add_argument("--overwrite", action="store_true", help="replace the agent already in --out")
    t.add_argument("--seed", type=seed_flag, default=0)
    t.add_argument("--lr", type=float_flag(0.0, 10.0, lo_open=True), help="learning rate eta")
    t.add_argument("--gamma", type=float_flag(0.0, 1.0), help="discount (q, sarsa)")
    t.add_argument("--epsilon-start", type=float_flag(0.0, 1.0), help="exploration at the start (q, sarsa, td)")
    t.add_argument("--epsilon-end", type=float_flag(0.0, 1.0), help="exploration after 80%% of the games")
    t.add_argument("--lambda", dest="lam", type=float_flag(0.0, 1.0), help="trace decay lambda (td)")
    t.add_argument("--hidden", type=int_flag(1, MAX_HIDDEN), help="hidden units (td, selfplay)")
    t.add_argument("--sims", type=int_flag(1, MAX_SIMS), help="MCTS simulations per self-play move (selfplay)")
    t.add_argument("--outputs", type=int, choices=(1, 5),
                   help="td backgammon: 1 output (P(win)) or 5 (GNU Backgammon's, with gammons)")
    t.add_argument("--init", help="td: start a new run from this saved agent (or 'default'); a 1-output "
                                  "backgammon net warm-starts a 5-output one")
    t.add_argument("--eval-every", type=int_flag(1, MAX_GAMES),
                   help="evaluate against the reference opponents every N games")
    t.add_argument("--eval-games", type=int_flag(1, 1_000_000), help="games per reference opponent at each evaluation")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", parents=[common_parent()], help="play two agents against each other")
    e.add_argument("--game", required=True, choices=GAME_NAMES)
    e.add_argument("--a", required=True, help=f"agent A: {AGENT_HELP}")
    e.add_argument("--b", required=True, help="agent B (same choices)")
    e.add_argument("--games", type=int_flag(1, 10_000_000), default=100)
    e.add_argument("--seed", type=seed_flag, default=0)
    e.set_defaults(func=cmd_eval)

    a = sub.add_parser("analyse", parents=[common_parent()],
                       help="an agent's value of every legal move in a position")
    a.add_argument("--game", required=True, choices=GAME_NAMES)
    a.add_argument("--agent", default="default", help=f"the agent: {AGENT_HELP}")
    a.add_argument("--moves", default="", help="moves from the start, e.g. '5 1 9' (tic-tac-toe, Connect Four)")
    a.add_argument("--position", help="a saved position (the JSON of State.to_json, or a file holding it)")
    a.add_argument("--dice", help="backgammon: the roll to play, e.g. 6-1")
    a.add_argument("--top", type=int_flag(1, 1000), default=10, help="how many moves to list, best first")
    a.add_argument("--seed", type=seed_flag, default=0)
    a.set_defaults(func=cmd_analyse)

    q = sub.add_parser("positions", parents=[common_parent()],
                       help="every tic-tac-toe position with a tabular agent's Q values, update counts and flaws")
    q.add_argument("--agent", default="default", help="a tabular tic-tac-toe agent: default or a saved agent's path")
    q.add_argument("--flawed", action="store_true",
                   help="list only the flawed positions, where a move of highest Q throws a win or a draw (else all)")
    q.set_defaults(func=cmd_positions)
    s = sub.add_parser("search", parents=[common_parent()],
                       help="an MCTS / PUCT agent's search tree for its next move (N, Q, P, score)")
    s.add_argument("--game", required=True, choices=("tictactoe", "connect4"))
    s.add_argument("--agent", default="default", help="mcts:N (UCT) or a self-play agent: default (Connect Four) "
                                                      "or a saved one's path")
    s.add_argument("--sims", type=int_flag(1, MAX_INSPECT_SIMS),
                   help="simulations (default: the agent's own count per move)")
    s.add_argument("--moves", default="", help="moves from the start, e.g. 4,4,5")
    s.add_argument("--depth", type=int_flag(1, 12), default=3, help="tree depth in the JSON (--json)")
    s.add_argument("--top-k", type=int_flag(1, 9), default=3, help="children per node below the root in the JSON")
    s.add_argument("--seed", type=seed_flag, default=0)
    s.set_defaults(func=cmd_search)

    p = sub.add_parser("play", parents=[common_parent()], help="play against an agent in the terminal")
    p.add_argument("--game", required=True, choices=GAME_NAMES)
    p.add_argument("--agent", default="default", help=f"the opponent: {AGENT_HELP}")
    p.add_argument("--second", action="store_true", help="let the agent move first")
    p.add_argument("--seed", type=seed_flag, default=None)
    p.set_defaults(func=cmd_play)

    lad = sub.add_parser("ladder", parents=[common_parent()],
                         help="rate a run's checkpoints and reference opponents on one Elo scale (round robin)")
    lad.add_argument("--game", required=True, choices=GAME_NAMES)
    lad.add_argument("--run", required=True, help="a training run's folder (its checkpoints/ are the players)")
    lad.add_argument("--with", dest="with_", default=None,
                     help="reference opponents to add, comma-separated (default: the game's, e.g. random,perfect); "
                          "'' for none")
    lad.add_argument("--games-per-pair", type=int_flag(1, 100_000), default=20,
                     help="games each pair plays, seats alternating (default 20)")
    lad.add_argument("--last", type=int_flag(1, MAX_GAMES), help="only the last K checkpoints")
    lad.add_argument("--most", type=int_flag(0, 64), default=12,
                     help="at most M checkpoints, spread evenly from the first to the last (default 12; 0: all)")
    lad.add_argument("--anchor", help="the player rated 0 Elo (default: random, else the first reference)")
    lad.add_argument("--out", help="where to write the ladder JSON (default: RUN/ladder.json)")
    lad.add_argument("--seed", type=seed_flag, default=0)
    lad.set_defaults(func=cmd_ladder)

    from engine.rl import replay_cli

    replay_cli.register(sub)  # txe rl replay | record


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from engine.rl.train import train

    overrides = {k: getattr(args, k) for k in ("lr", "gamma", "epsilon_start", "epsilon_end", "lam", "hidden",
                                               "sims", "eval_every", "eval_games", "outputs", "init")}
    tty = sys.stderr.isatty() and not args.json
    summary: dict[str, Any] = {}
    token = CancelToken()
    with stop_on_signals(token) as stop:  # a signal ends the run after the game in play, and saves
        for event in train(args.game, args.algo, games=args.games, minutes=args.minutes, out=args.out,
                           seed=args.seed, resume=args.resume, overwrite=args.overwrite, token=token,
                           threads=args.threads or 1, **overrides):
            if isinstance(event, Finished):
                summary = event.summary
            elif tty and isinstance(event, Progress | Evaluation):
                sys.stderr.write(_stats_line(event) + "\n")
    if stop.signum is not None:
        raise Interrupted(stop.signum, f"stopped by {signal_name(stop.signum)} after {summary.get('games', 0)} "
                                       f"games; the agent is saved in {args.out}")
    return summary


def _stats_line(event: Progress | Evaluation) -> str:
    m = event.metrics
    if isinstance(event, Progress):
        return (f"games {m['games']}  {m['games_per_s']:.0f} games/s  td error {m['td_error']:.4f}  "
                f"epsilon {m['epsilon']:.3f}")
    parts = [f"{k}: W {v['win']:.2f} D {v['draw']:.2f} L {v['loss']:.2f}" for k, v in m.items()
             if isinstance(v, dict)]
    return f"eval at {m['games']} games  " + "  ".join(parts)


def cmd_ladder(args: argparse.Namespace) -> dict[str, Any]:
    """A round robin between the run's checkpoints and the reference opponents, rated by a Bradley-Terry fit
    (engine.rl.ladder); prints the ratings table and writes the JSON."""
    from engine.rl.ladder import ladder, run_players

    refs = None if args.with_ is None else [r for r in args.with_.split(",") if r.strip()]
    players = run_players(args.run, args.game, refs, last=args.last, most=args.most)
    out = Path(args.out) if args.out else Path(args.run) / "ladder.json"
    tty = sys.stderr.isatty() and not args.json
    finished: Finished | None = None
    token = CancelToken()
    with stop_on_signals(token) as stop:  # a signal ends the ladder after the game in play; what was played is rated
        for event in ladder(args.game, players, args.games_per_pair, seed=args.seed, anchor=args.anchor,
                            token=token, out=out):
            if isinstance(event, Finished):
                finished = event
            elif tty and isinstance(event, Progress):
                m = event.metrics
                sys.stderr.write(f"pair {m['pair']}/{m['pairs']}  {event.step:,}/{event.total:,} games  "
                                 f"{m['games_per_s']:.0f} games/s\n")
    assert finished is not None
    if stop.signum is not None:
        played = finished.summary["games_played"]
        raise Interrupted(stop.signum, f"stopped by {signal_name(stop.signum)} after {played} games; the ratings "
                                       f"of those are in {out}")
    if args.json:
        return finished.summary
    print(finished.result.table())
    return {"anchor": finished.summary["anchor"], "games_played": finished.summary["games_played"],
            "elapsed_s": finished.summary["elapsed_s"], "out": str(out)}


def cmd_eval(args: argparse.Namespace) -> dict[str, Any]:
    from engine.rl.arena import evaluate

    if args.games < 1:
        raise UserError("--games must be at least 1.")
    game = get_game(args.game)
    a = make_agent(args.a, game.name, seed=args.seed)
    b = make_agent(args.b, game.name, seed=args.seed + 1)
    result = evaluate(game, a, b, args.games, seed=args.seed)
    if not args.json:
        print(points_line(result))
    return result


def points_line(r: dict[str, Any]) -> str:
    """One line: wins, points per game with its 95% interval, and (backgammon) gammons won and lost."""
    lo, hi = r["a_points_ci95"]
    line = (f"{r['a']} vs {r['b']}: {r['a_wins']} W / {r['draws']} D / {r['b_wins']} L in {r['games']} games; "
            f"points per game {r['a_points']:+.3f} [95%: {lo:+.3f}, {hi:+.3f}]")
    if r["game"] == "backgammon":
        line += (f"; gammons {r['a_gammons']} won / {r['b_gammons']} lost, backgammons {r['a_backgammons']} "
                 f"won / {r['b_backgammons']} lost")
    return line


def cmd_positions(args: argparse.Namespace) -> dict[str, Any]:
    """Summary and positions of ``txe rl positions`` (see engine.rl.ttt_positions)."""
    from engine.rl.ttt_positions import PositionTable, describe_position, describe_summary

    table = PositionTable(make_agent(args.agent, "tictactoe", seed=0))  # type: ignore[arg-type]
    shown = table.flawed() if args.flawed else [p for p in table.positions.values() if not p.terminal]
    summary = table.summary()
    if not args.json:
        print(describe_summary(summary))
        for p in shown:
            print("\n" + describe_position(p))
        return {"listed": len(shown)}  # the text above says it all
    return {"summary": summary, "positions": [p.to_dict() for p in shown]}


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


def _read_position_file(path: Path) -> str:
    from engine.corpus import read_checked_bytes

    try:
        return read_checked_bytes(path, 2**20, "a saved position").decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a saved position (not UTF-8 text).") from None


def analysis_position(game_name: str, moves: str = "", position: str | None = None, dice: str | None = None):
    """The position ``txe rl analyse`` looks at: a saved one, or the start plus ``moves``, plus ``dice``."""
    game = get_game(game_name)
    if position:
        text = position if position.lstrip().startswith("{") else _read_position_file(Path(position))
        state = game.state_from_json(text)
    else:
        state = game.new_initial_state()
    for word in moves.replace(",", " ").split():
        if state.is_terminal() or state.is_chance_node():
            raise UserError(f"Cannot play '{word}': the game is over or waits for dice (use --position).")
        state.apply_action(state.string_to_action(word))
    if dice:
        if game.name != "backgammon":
            raise UserError("--dice is for backgammon only.")
        try:
            d1, d2 = (int(x) for x in dice.replace(",", "-").split("-"))
        except ValueError:
            raise UserError(f"Cannot read the dice '{dice}'; write them like 6-1.") from None
        if not (1 <= d1 <= 6 and 1 <= d2 <= 6):
            raise UserError(f"Dice show 1 to 6, not {dice}.")
        state.set_dice(d1, d2)  # type: ignore[attr-defined]
    elif state.is_chance_node():
        raise UserError("The position waits for a roll: give --dice, e.g. --dice 6-1.")
    return state


def cmd_analyse(args: argparse.Namespace) -> dict[str, Any]:
    from engine.rl.agents.td import GAMMON_OUTPUTS
    from engine.rl.analysis import analyse, choose, win_probability_for

    if args.top < 1:
        raise UserError("--top must be at least 1.")
    state = analysis_position(args.game, args.moves, args.position, args.dice)
    if state.is_terminal():
        raise UserError("The game is already over in that position.")
    agent = make_agent(args.agent, state.game_name, seed=args.seed)
    result = analyse(agent, state)
    choice = choose(agent, state, result)
    mover = state.current_player()
    out = {"game": state.game_name, "agent": result.agent, "player": mover, "value_kind": result.value_kind,
           "legal_moves": len(state.legal_actions()), "moves": result.top(state, args.top),
           "choice": state.action_to_string(choice),
           "win_probability": win_probability_for(agent, state, mover, result)}
    if not args.json:
        print(str(state))
        print(f"{result.agent} ({result.value_kind or 'no values'}), {'XO'[mover]} to move:")
        probs = any("probs" in row for row in out["moves"])
        if probs:
            print(f"  {'move':<24} {'equity':>7}  {'win':>6} {'w-g':>6} {'w-bg':>6} {'l-g':>6} {'l-bg':>6}")
        for row in out["moves"]:
            n = f"  N={row['visits']}" if "visits" in row else ""
            v = "-" if row["value"] is None else f"{row['value']:+.3f}"
            if probs and "probs" in row:
                n = "  " + " ".join(f"{row['probs'][k]:6.3f}" for k in GAMMON_OUTPUTS)
                v = f"{v:>7}"
            print(f"  {row['move']:<24} {v}{n}")
        print(f"plays {out['choice']}")
        return {k: out[k] for k in ("agent", "sims", "choice")}  # the table above says the rest
    return out


def cmd_search(args: argparse.Namespace) -> dict[str, Any]:
    from engine.rl.search_trace import SearchSession, root_rows

    state = analysis_position(args.game, args.moves)
    agent = make_agent(args.agent, state.game_name, seed=args.seed)
    session = SearchSession(agent, state)
    sims = args.sims or getattr(agent, "rollouts", None) or agent.sims
    session.advance(sims)
    snap = session.snapshot(top_k=args.top_k, depth=args.depth)
    rows = [{k: n[k] for k in ("move", "n", "q", "p", "score")} for n in root_rows(snap)]
    choice = session.choice()
    out = {"game": snap["game"], "agent": snap["agent"], "search": snap["kind"], "c": snap["c"], "sims": snap["sims"],
           "player": snap["player"], "children": rows,
           "choice": None if choice is None else state.action_to_string(choice), "tree": snap["nodes"]}
    if not args.json:
        print(str(state))
        score = "W/N + c sqrt(ln N_parent / N)" if snap["kind"] == "uct" else "Q + c P sqrt(N_parent + 1) / (1 + N)"
        print(f"{snap['agent']}: {snap['kind'].upper()} with c = {snap['c']}, {snap['sims']:,} simulations, "
              f"{'XO'[snap['player']]} to move; score = {score}")
        print(f"  {'move':<6}{'N':>8}{'Q':>9}{'P':>8}{'score':>9}")
        for r in rows:
            q = "-" if r["q"] is None else f"{r['q']:+.3f}"
            p = "-" if r["p"] is None else f"{r['p']:.3f}"
            sc = "-" if r["score"] is None else f"{r['score']:.3f}"
            print(f"  {r['move']:<6}{r['n']:>8,}{q:>9}{p:>8}{sc:>9}")
        print(f"plays {out['choice']}")
        return {k: out[k] for k in ("agent", "sims", "choice")}  # the table above says the rest
    return out
