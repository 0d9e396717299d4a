"""``txe rlhf preferences | reward-model | train | score``: reinforcement learning from human feedback, with a
scripted judge in the human's place (engine.rlhf). Each prints one JSON object."""

from __future__ import annotations

import argparse
from typing import Any

from engine.clikit import common_parent, progress
from engine.commands import _checkpoint_option
from engine.errors import UserError
from engine.validate import float_flag, int_flag, seed_flag

MAX_PAIRS = 1_000_000
MAX_STEPS = 1_000_000


def _open_decoder(spec: str | None) -> Any:
    from engine.inference import require_decoder
    from engine.models import open_model

    loaded = open_model(spec)
    require_decoder(loaded.model)
    return loaded


def _events(events: Any, total: int, desc: str, token: Any) -> Any:
    """Run a generator of engine.events with a progress bar; its Finished event. A first Ctrl-C or SIGTERM
    stops the work at its next step (a policy being tuned is saved, other work is dropped: nothing half-written
    is left); a second one stops at once."""
    from engine.events import Finished, Progress
    from engine.signals import Interrupted, signal_name, stop_on_signals
    from engine.tasks import Cancelled

    bar = progress(total=total, desc=desc)
    result = None
    with stop_on_signals(token) as stop:
        try:
            for e in events:
                if isinstance(e, Progress):
                    bar.n = min(total, e.step)
                    bar.set_postfix({k: f"{v:.3f}" for k, v in list(e.metrics.items())[:3]}, refresh=True)
                elif isinstance(e, Finished):
                    result = e
        except Cancelled:
            pass
        finally:
            bar.close()
    if result is None:
        raise Interrupted(stop.signum or 2, f"stopped by {signal_name(stop.signum or 2)}; nothing was written")
    return result


def cmd_preferences(args: argparse.Namespace) -> dict[str, Any]:
    from engine.files import check_output
    from engine.rlhf.judges import make_judge
    from engine.rlhf.prefs import judge_pairs, write_pairs
    from engine.rlhf.rollout import verse_prompts
    from engine.tasks import CancelToken

    judge = make_judge(args.judge)
    out = check_output(args.out, "--out")
    loaded = _open_decoder(args.checkpoint)
    token = CancelToken()
    fin = _events(judge_pairs(loaded.model, loaded.tokenizer, judge, verse_prompts(args.corpus, "train"), args.pairs,
                              args.seed, args.max_new, token=token), args.pairs, "pairs", token)
    write_pairs(fin.result, out)
    return {**fin.summary, "out": str(out), "judge_rule": judge.describe()}


def cmd_reward_model(args: argparse.Namespace) -> dict[str, Any]:
    from engine.files import check_output
    from engine.rlhf.prefs import read_pairs
    from engine.rlhf.reward import is_reward_model, save_reward_model, train_reward_model
    from engine.tasks import CancelToken

    out = check_output(args.out, "--out", folder=True)
    if out.is_dir() and any(out.iterdir()) and not is_reward_model(out):
        raise UserError(f"--out {out} exists and is not a reward model; choose a new or empty folder")
    pairs = read_pairs(args.pairs)
    loaded = _open_decoder(args.checkpoint)
    token = CancelToken()
    fin = _events(train_reward_model(loaded, pairs, args.steps, args.batch, args.lr, args.seed, pooling=args.pooling,
                                     token=token), args.steps, "reward model", token)
    save_reward_model(fin.result, out)
    return {**fin.summary, "out": str(out)}


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from engine.checkpoint import is_checkpoint
    from engine.files import check_output
    from engine.rlhf.evaluate import compare_policies
    from engine.rlhf.judges import make_judge
    from engine.rlhf.prefs import read_pairs
    from engine.rlhf.reward import load_reward_model
    from engine.rlhf.train import RlhfConfig, RlhfTrainer
    from engine.tasks import CancelToken

    out = check_output(args.out, "--out", folder=True)
    if out.is_dir() and any(out.iterdir()) and not is_checkpoint(out):
        raise UserError(f"--out {out} exists and is not a checkpoint; choose a new or empty folder")
    if args.method == "ppo" and not args.reward:
        raise UserError("--method ppo needs --reward DIR (a reward model from txe rlhf reward-model)")
    if args.method == "dpo" and not args.pairs:
        raise UserError("--method dpo needs --pairs FILE (preference pairs from txe rlhf preferences)")
    judge = make_judge(args.judge) if args.judge else None
    pairs = read_pairs(args.pairs) if args.pairs else None
    reward = load_reward_model(args.reward) if args.reward else None
    cfg = RlhfConfig(method=args.method, steps=args.steps, minutes=args.minutes, beta=args.beta,
                     lr=args.lr if args.lr else (1e-4 if args.method == "ppo" else 5e-5), seed=args.seed, out=str(out))
    start = _open_decoder(args.checkpoint)
    trainer = RlhfTrainer(start, cfg, reward, pairs, judge)
    token = CancelToken()
    fin = _events(trainer.run(token), cfg.steps, args.method, token)
    result = fin.result
    m = compare_policies(start.model, result.policy, start.tokenizer, reward, judge, n=args.eval_prompts,
                         seed=args.seed + 7)
    return {"method": args.method, "steps": result.steps, "seconds": round(result.seconds, 1),
            "stopped": result.stopped, "out": result.path, "reward_before": m.get("reward_before"),
            "reward_after": m.get("reward_after"), "kl": m["kl"],
            **{k: v for k, v in m.items() if k not in ("reward_before", "reward_after", "kl")}}


def cmd_score(args: argparse.Namespace) -> dict[str, Any]:
    from engine.rlhf.judges import make_judge
    from engine.rlhf.reward import load_reward_model

    rm = load_reward_model(args.reward)
    prompt = args.prompt if args.prompt.endswith("\n") or not args.prompt else args.prompt + "\n"
    rewards = rm.score(prompt, args.lines)
    out: dict[str, Any] = {"prompt": prompt, "rewards": [[line, round(r, 6)] for line, r in
                                                         zip(args.lines, rewards, strict=True)]}
    if args.judge:
        judge = make_judge(args.judge)
        out["judge"] = [[line, round(judge.score(prompt, line), 6)] for line in args.lines]
    return out


def register(sub: argparse._SubParsersAction) -> None:
    from engine.rlhf.judges import JUDGES

    rlhf = sub.add_parser("rlhf", help="reinforcement learning from (scripted) human feedback",
                          description="Preference pairs from a scripted judge, a reward model trained on them "
                                      "(Bradley-Terry), and a policy tuned against it with PPO (value head, KL "
                                      "penalty) or directly from the pairs with DPO.")
    sub2 = rlhf.add_subparsers(dest="rlhf_command", required=True, parser_class=type(rlhf))
    common = common_parent()
    judges = ", ".join(JUDGES)

    p = sub2.add_parser("preferences", parents=[common], help="make preference pairs with a scripted judge",
                        description="Sample two lines for each verse prompt of the corpus and let the judge say "
                                    "which is better (ties are drawn again); write the pairs as JSONL.")
    _checkpoint_option(p)
    p.add_argument("--judge", required=True, help=f"one of {judges}")
    p.add_argument("--pairs", type=int_flag(1, MAX_PAIRS), default=2000, help="pairs to make (default 2000)")
    p.add_argument("--out", required=True, help="FILE.jsonl")
    p.add_argument("--corpus", default="shakespeare", help="where the prompts come from")
    p.add_argument("--max-new", type=int_flag(1, 1000), default=64, help="tokens of a line at most")
    p.add_argument("--seed", type=seed_flag, default=0)
    p.set_defaults(func=cmd_preferences)

    p = sub2.add_parser("reward-model", parents=[common], help="train a reward model on preference pairs",
                        description="The model's own architecture with a scalar head, trained with the Bradley-Terry "
                                    "loss; heldout_accuracy is on pairs of prompts it never saw.")
    _checkpoint_option(p)
    p.add_argument("--pairs", required=True, help="FILE.jsonl from txe rlhf preferences (or your own)")
    p.add_argument("--out", required=True, help="folder for the reward model")
    p.add_argument("--steps", type=int_flag(1, MAX_STEPS), default=300)
    p.add_argument("--batch", type=int_flag(1, 4096), default=32, help="pairs per step")
    p.add_argument("--lr", type=float_flag(0.0, 1.0, lo_open=True), default=None)
    p.add_argument("--pooling", choices=("last", "line"), default="last",
                   help="the last token's state (default) or the mean of the line's token states")
    p.add_argument("--seed", type=seed_flag, default=0)
    p.set_defaults(func=cmd_reward_model)

    p = sub2.add_parser("train", parents=[common], help="tune a policy with PPO or DPO",
                        description="PPO against a reward model with a KL penalty to the start model, or DPO from "
                                    "the pairs; then sample new prompts from the start and the tuned model and report "
                                    "reward_before, reward_after, kl (and judge_win_rate with --judge).")
    _checkpoint_option(p)
    p.add_argument("--method", choices=("ppo", "dpo"), required=True)
    p.add_argument("--reward", help="a reward model folder (PPO; with DPO, used only to report rewards)")
    p.add_argument("--pairs", help="FILE.jsonl of preference pairs (DPO)")
    p.add_argument("--judge", help=f"a scripted judge to report the win rate with: {judges}")
    p.add_argument("--out", required=True, help="folder for the tuned model (a checkpoint every view opens)")
    p.add_argument("--steps", type=int_flag(1, MAX_STEPS), default=150, help="PPO iterations or DPO steps")
    p.add_argument("--minutes", type=float_flag(0.0, 10_000.0), default=0.0, help="a time budget (0: none)")
    p.add_argument("--beta", type=float_flag(0.0, 100.0), default=0.05, help="KL penalty coefficient (PPO)")
    p.add_argument("--lr", type=float_flag(0.0, 1.0, lo_open=True), default=None)
    p.add_argument("--eval-prompts", type=int_flag(1, 100_000), default=200, help="new prompts to compare on")
    p.add_argument("--seed", type=seed_flag, default=0)
    p.set_defaults(func=cmd_train)

    p = sub2.add_parser("score", parents=[common], help="a reward model's score of lines after a prompt")
    p.add_argument("--reward", required=True, help="a reward model folder")
    p.add_argument("--prompt", required=True, help="the prompt (a speaker's name and a line)")
    p.add_argument("lines", nargs="+", help="continuations to score")
    p.add_argument("--judge", help=f"also a scripted judge's score: {judges}")
    p.set_defaults(func=cmd_score)
