"""``txe icl train | evaluate`` and ``txe few-shot`` (issue 15: in-context learning; see engine.cli).

Seeds 000 and 003: few-shot prompting ("Few-shots > Zero-shots"). ``icl train`` trains a 2-layer model on
repeated random segments and reports when its induction heads form (engine.interp.icl); ``few-shot``
measures accuracy against the number of examples in the prompt on the built-in tasks
(engine.interp.fewshot).
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.clikit import common_parent, progress
from engine.commands import _checkpoint_option
from engine.errors import UserError
from engine.validate import float_flag, int_flag, seed_flag

EVALUATE_HELP = (
    "Reports, for a model written by txe icl train: the loss on the first and the second copy of a segment "
    "(seeded batch of the training task), the four head scores (txe heads) and the strongest induction head, "
    "and accuracy_by_k: the task's own few-shot test, a segment shown k times and then once more, the "
    "accuracy of the greedy prediction of that last copy (k=0 is the first sight: chance, 1/V). The "
    "text tasks of txe few-shot cannot be written in this model's vocabulary of random symbols; use txe "
    "few-shot --model DIR for a model trained on text.")


def _ks(raw: str) -> list[int]:
    from engine.interp.fewshot import parse_ks

    return parse_ks(raw)


def cmd_icl_train(args: argparse.Namespace) -> dict[str, Any]:
    from engine.events import Evaluation, Finished, Progress
    from engine.files import check_output
    from engine.interp.icl import MAX_MINUTES, IclConfig, save_icl, train_icl

    out = check_output(args.out, "--out", folder=True)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.overwrite:
        raise UserError(f"--out {out} is not empty; choose a new folder or use --overwrite to replace a run there")
    if args.minutes > MAX_MINUTES:
        raise UserError(f"--minutes: at most {MAX_MINUTES}")
    steps = args.steps if args.steps or args.minutes else 3000
    base = IclConfig()
    n_max = max(2, min(base.n_max, (args.context - 1) // base.copies))  # the copies must fit the context
    cfg = IclConfig(vocab=args.vocab, context=args.context, n_min=min(base.n_min, n_max), n_max=n_max,
                    d=args.d_model, batch=args.batch, lr=args.lr, steps=0 if args.minutes else steps,
                    minutes=args.minutes, every=args.every, stop_at_target=args.stop_at_target, seed=args.seed)
    bar = progress(total=cfg.steps or round(cfg.minutes * 60), desc="icl train")
    result = None
    try:
        for event in train_icl(cfg):
            if isinstance(event, Progress):
                bar.n = event.step if cfg.steps else round(event.elapsed)
                bar.refresh()
            elif isinstance(event, Evaluation) and not args.json:
                m = event.metrics
                bar.write(f"step {m['step']:>6}  {m['seconds']:7.1f} s  loss {m['loss']:.3f}  first repeat "
                          f"{m['first_repeat_loss']:.3f}  second {m['second_repeat_loss']:.3f}  induction "
                          f"{m['induction_max']:.3f}")
            elif isinstance(event, Finished):
                result = event.result
    finally:
        bar.close()
    save_icl(result, out)
    last = result.history[-1]
    return {**result.summary(), "checkpoint": str(out), "loss_ratio": last.ratio,
            "history": [[p.step, round(p.seconds, 2), p.first_repeat_loss, p.second_repeat_loss, p.induction_max]
                        for p in result.history]}


def cmd_icl_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from engine.interp.icl import evaluate_icl
    from engine.models import open_model

    ks = _ks(args.k)
    r = evaluate_icl(open_model(args.checkpoint), ks, args.seed)
    if args.json:
        return r
    print(f"loss on the first copy {r['first_repeat_loss']:.3f}, on the second {r['second_repeat_loss']:.3f} "
          f"(ratio {r['loss_ratio']:.3f}); strongest induction head {r['induction_head']}: {r['induction_max']:.3f}")
    when = (f"first met in training at step {r['target_step']}" if r["target_step"] is not None
            else "never met in training")
    print(f"target (induction >= 0.9 and ratio < 0.2) {'met' if r['meets_target'] else 'not met'} now; {when} "
          f"({r['steps']} steps)")
    print(f"a segment of {r['segment_for_k']} symbols seen k times, accuracy on the next copy:")
    for k, a in r["accuracy_by_k"].items():
        print(f"  k={k:>3}  {a:.3f}")
    return {}


def cmd_few_shot(args: argparse.Namespace) -> dict[str, Any]:
    from engine.interp.fewshot import check_ks, few_shot, load_task, task_names
    from engine.models import open_model

    ks = _ks(args.k)
    tasks = [load_task(args.task)] if args.task else [load_task(n) for n in task_names()]
    for t in tasks:  # every bad flag before the model is loaded
        check_ks(ks, t, args.queries)
    loaded = open_model(args.checkpoint)
    results = {}
    for t in tasks:
        results[t.name] = few_shot(loaded, t, ks, args.queries, args.format, args.seed)
    if args.json:
        return {"model": loaded.model.name, "format": args.format, "queries": args.queries, "k": ks,
                "tasks": {n: r.to_dict(details=args.details) for n, r in results.items()}}
    print(f"accuracy over {args.queries} queries per task ({loaded.model.name}, {args.format} prompts)")
    print(f"{'task':>12} " + " ".join(f"{'k=' + str(k):>7}" for k in ks))
    for n, r in results.items():
        print(f"{n:>12} " + " ".join(f"{r.accuracy_by_k[k]:7.2f}" for k in ks))
    last = results[tasks[-1].name].attention[ks[-1]]
    print(f"\n{tasks[-1].name}, k={ks[-1]}, first query:\n{last.prompt}  ->  model: {last.output!r} "
          f"(expected {last.expected!r})")
    return {}


def register(sub: argparse._SubParsersAction) -> None:
    from engine.interp.icl import IclConfig

    common = common_parent()
    icl = sub.add_parser("icl", help="in-context learning: induction heads on repeated random segments",
                         description="Train a 2-layer, 2-head transformer on random segments repeated in a "
                                     "sequence and watch the loss on the second copy fall as induction heads form.")
    sub2 = icl.add_subparsers(dest="icl_command", required=True, parser_class=type(icl))
    p = sub2.add_parser("train", parents=[common], help="train on repeated segments",
                        description="Every --every steps: loss on the first and second copy, head scores. The "
                                    "target: an induction score >= 0.9 and second-copy loss < 0.2 x first-copy "
                                    "loss; target_step says when it was first met. Saved as a checkpoint with "
                                    "its history (any command's --checkpoint reads it).")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int_flag(1, 10**9), default=0, help="optimizer steps (default 3000)")
    budget.add_argument("--minutes", type=float_flag(0.0, None, lo_open=True), default=0.0, help="wall time")
    p.add_argument("--out", required=True, help="folder for the checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace what --out holds")
    p.add_argument("--stop-at-target", action="store_true", help="stop once the target is met")
    p.add_argument("--vocab", type=int_flag(4, 526), default=IclConfig.vocab,
                   help=f"symbols (default {IclConfig.vocab})")
    p.add_argument("--context", type=int_flag(8, 4096), default=64, help="tokens per sequence (default 64)")
    p.add_argument("--d-model", type=int_flag(2, 4096), default=IclConfig.d,
                   help=f"width (default {IclConfig.d}; 2 heads, 2 layers)")
    p.add_argument("--batch", type=int_flag(1, 4096), default=IclConfig.batch)
    p.add_argument("--lr", type=float_flag(0.0, 1.0, lo_open=True), default=IclConfig.lr)
    p.add_argument("--every", type=int_flag(1, 10**6), default=50, help="steps between measurements (default 50)")
    p.add_argument("--seed", type=seed_flag, default=0)
    p.set_defaults(func=cmd_icl_train)

    p = sub2.add_parser("evaluate", parents=[common], help="repeat losses, head scores, accuracy against k",
                        description=EVALUATE_HELP)
    p.add_argument("--checkpoint", required=True, help="a folder written by txe icl train")
    p.add_argument("--k", default="0,1,2,4,8", help="times the segment is shown before it is predicted")
    p.add_argument("--seed", type=seed_flag, default=0)
    p.set_defaults(func=cmd_icl_evaluate)

    p = sub.add_parser("few-shot", parents=[common], help="accuracy against the number of examples in the prompt",
                       description="k example lines 'input -> output' then 'query ->'; the greedy continuation's "
                                   "first line must equal the answer. Tasks: antonyms, capitals, copy, past_tense, "
                                   "plurals, uppercase (assets/fewshot). JSON: {tasks: {task: {accuracy_by_k: "
                                   "{k: accuracy}, example: {k: the first query's prompt, the model's output and "
                                   "the attention (mean over heads) to each example line, per layer}}}}.")
    _checkpoint_option(p)
    p.add_argument("--task", default=None, help="one task (default: all)")
    p.add_argument("--k", default="0,1,2,4,8", help="numbers of examples, e.g. 0,1,2,4,8")
    p.add_argument("--queries", type=int_flag(1, 100_000), default=50, help="queries per task and k (default 50)")
    p.add_argument("--format", default="raw", choices=["raw", "chat"],
                   help="raw lines (default) or the user's message of the model's chat template")
    p.add_argument("--details", action="store_true", help="JSON: every query's output")
    p.add_argument("--seed", type=seed_flag, default=0)
    p.set_defaults(func=cmd_few_shot)
