"""``txe gradients``: the vanishing-gradient measurement of engine.gradients from the command line.

    txe gradients --arch rnn,gru,lstm,transformer --length 60 [--steps 300] [--seed 0] [--json]

prints ``distance`` (0 .. T-1, steps back from the output) and ``grad_norm`` ({architecture: the mean norm
of the loss's gradient with respect to the input embedding at each distance}) after ``--steps`` training
steps on the recall task (0: at initialisation), with the loss and accuracy of each architecture and, when
it trained, the curves at initialisation too.
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.clikit import common_parent, progress
from engine.errors import UserError
from engine.gradients import ARCHS, MAX_BATCH, MAX_LENGTH, MAX_STEPS, MIN_LENGTH, parse_archs
from engine.tasks import CancelToken
from engine.validate import int_flag, seed_flag


def arch_flag(raw: str) -> tuple[str, ...]:
    """argparse ``type=``: a comma-separated list of architectures."""
    try:
        return parse_archs(raw)
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _rounded(values: Any) -> list[float]:
    return [float(f"{float(v):.6g}") for v in values]


def cmd_gradients(args: argparse.Namespace) -> dict[str, Any]:
    from engine.gradients import check_settings, train_recall

    task = check_settings(args.arch, args.length, args.steps, args.batch)  # before any model is built
    if not args.threads:
        import torch

        torch.set_num_threads(1)  # models this small run fastest on one thread (two: 5x slower on a busy machine)
    bar = progress(total=args.steps, desc="gradients")
    token = CancelToken()
    token.sink = lambda snap: bar.update(snap.step - bar.n)
    try:
        run = train_recall(args.arch, args.length, args.steps, seed=args.seed, batch=args.batch,
                           every=max(1, args.steps // 10), token=token)
    finally:
        bar.close()
    last = run.last
    result: dict[str, Any] = {
        "task": task.describe(), "length": task.length, "chance": task.chance, "steps": last.step,
        "seed": args.seed, "distance": last.distance,
        "grad_norm": {a: _rounded(g) for a, g in last.grad_norm.items()},
        "loss": {a: round(v, 6) for a, v in last.loss.items()},
        "accuracy": {a: round(v, 6) for a, v in last.accuracy.items()},
        "seconds": round(last.seconds, 3),
    }
    if last.step > 0:
        result["grad_norm_at_init"] = {a: _rounded(g) for a, g in run.first.grad_norm.items()}
    return result


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gradients", parents=[common_parent()], help="vanishing gradients: RNN, GRU, LSTM, transformer",
                       description="The norm of the loss's gradient with respect to the input embedding at each "
                                   "distance from the output, on the long-range recall task (T tokens, the target "
                                   "read at the last step is the first token), per architecture; at "
                                   "initialisation, or after --steps training steps of all of them side by side.")
    p.add_argument("--arch", type=arch_flag, default=ARCHS,
                   help=f"comma-separated architectures among {','.join(ARCHS)} (default: all)")
    p.add_argument("--length", type=int_flag(MIN_LENGTH, MAX_LENGTH), required=True,
                   help=f"T, the tokens of a sequence ({MIN_LENGTH} to {MAX_LENGTH})")
    p.add_argument("--steps", type=int_flag(0, MAX_STEPS), default=0,
                   help="training steps before measuring (default 0: at initialisation)")
    p.add_argument("--batch", type=int_flag(1, MAX_BATCH), default=32, help="sequences per training step")
    p.add_argument("--seed", type=seed_flag, default=0)
    p.set_defaults(func=cmd_gradients)
