"""``txe seq2seq train | translate | evaluate``: translators of the grammar task or of a parallel text file
(engine.seq2seq). JSON on stdout with ``--json``; a bad flag, file or checkpoint is one line, exit 2."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.clikit import common_parent, progress
from engine.errors import UserError
from engine.tasks import CancelToken
from engine.validate import float_flag, int_flag, seed_flag

MAX_BEAM = 64
MAX_EVAL = 1_000_000


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from engine.files import check_output
    from engine.seq2seq.checkpoint import is_translator
    from engine.seq2seq.data import load_data
    from engine.seq2seq.models import ARCHS
    from engine.seq2seq.train import MAX_MINUTES, MAX_STEPS, TrainPoint, train

    if args.arch not in ARCHS:
        raise UserError(f"unknown --arch {args.arch!r}; use one of {', '.join(ARCHS)}")
    if args.cell and args.arch != "rnn-attention":
        raise UserError("--cell is for --arch rnn-attention (rnn, gru and lstm name their cell)")
    if not args.steps and not args.minutes:
        args.steps = 1000
    if args.steps > MAX_STEPS or args.minutes > MAX_MINUTES:
        raise UserError(f"train for at most {MAX_STEPS:,} steps or {MAX_MINUTES:g} minutes")
    out = check_output(args.out, "--out", folder=True)
    if out.is_dir() and any(out.iterdir()):
        if not is_translator(out):
            raise UserError(f"--out {out} exists and is not a seq2seq checkpoint; choose a new or empty folder")
        if not args.overwrite:
            raise UserError(f"--out {out} already holds a seq2seq checkpoint; use --overwrite to replace it")
    data = load_data(args.data, args.seed)
    overrides = {k: v for k, v in (("cell", args.cell), ("hidden", args.hidden), ("layers", args.layers),
                                   ("d", args.d_model), ("heads", args.heads)) if v}
    token = CancelToken()
    bar = progress(total=args.steps or round(args.minutes * 60), desc=f"train {args.arch}")
    shown = [0.0]

    def sink(point: TrainPoint) -> None:
        if point.kind == "step":
            done = point.step if args.steps else point.seconds
            bar.update(done - shown[0])
            shown[0] = done
            bar.set_postfix(loss=f"{point.loss:.3f}")

    token.sink = sink
    try:
        result = train(data, args.arch, steps=args.steps, minutes=args.minutes, batch=args.batch, lr=args.lr,
                       seed=args.seed, out=out, token=token, **overrides)
    finally:
        bar.close()
    model = result.translator.model
    return {"arch": args.arch, "cell": model.cfg.cell, "steps": result.steps, "seconds": round(result.seconds, 2),
            "valid_exact_match": result.valid_exact_match, "parameters": model.num_parameters(),
            "data": data.spec, "checkpoint": str(out),
            "curve": [[p.step, p.seconds, p.exact_match] for p in result.history if p.kind == "eval"]}


def cmd_translate(args: argparse.Namespace) -> dict[str, Any]:
    from engine.seq2seq.checkpoint import load_translator
    from engine.seq2seq.decode import beam, greedy

    tr = load_translator(args.checkpoint)
    if args.beam <= 1:
        best = greedy(tr, args.text)
        return {"arch": tr.arch, "method": "greedy", **best.to_dict(args.all_heads)}
    search = beam(tr, args.text, args.beam, args.alpha)
    nbest = search.translations()
    return {"arch": tr.arch, "method": "beam", "beam": args.beam, "alpha": args.alpha,
            **nbest[0].to_dict(args.all_heads),
            "nbest": [{"translation": t.text, "score": t.score, "logprob": t.logprob} for t in nbest],
            "tree_nodes": len(search.tree)}


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from engine.seq2seq.checkpoint import load_translator
    from engine.seq2seq.data import grammar_data, read_parallel
    from engine.seq2seq.evaluate import evaluate

    tr = load_translator(args.checkpoint)
    if args.data:
        pairs, source = read_parallel(args.data), str(Path(args.data))
    elif tr.data.get("kind") == "grammar":
        seed = tr.data.get("seed", 0)
        pairs, source = grammar_data(seed if isinstance(seed, int) else 0).test, "grammar test set"
    else:
        raise UserError(f"{args.checkpoint} was trained on a file; give --data FILE.tsv to evaluate on")
    pairs = pairs[: args.limit] if args.limit else pairs
    ev = evaluate(tr, pairs)
    return {"arch": tr.arch, "data": source, "sentences": len(pairs), **ev.to_dict()}


def register(sub: argparse._SubParsersAction) -> None:
    common = common_parent()
    s2s = sub.add_parser("seq2seq", help="translation with RNN encoder-decoders and transformers",
                         description="Train, run and evaluate translators: an RNN encoder-decoder without attention "
                                     "(rnn, gru, lstm), one with attention (rnn-attention), a transformer. The data "
                                     "is the grammar task (English-like to a verb-final language; "
                                     "docs/translation.md) or a parallel text file (source<TAB>target lines).")
    sub2 = s2s.add_subparsers(dest="seq2seq_command", required=True, parser_class=type(s2s))

    p = sub2.add_parser("train", parents=[common], help="train a translator")
    p.add_argument("--arch", required=True, help="rnn | gru | lstm (no attention) | rnn-attention | transformer")
    p.add_argument("--cell", default="", help="rnn-attention's recurrent cell: rnn, gru (default) or lstm")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int_flag(1, None), default=0, help="optimizer steps (default 1000)")
    budget.add_argument("--minutes", type=float_flag(0.0, None, lo_open=True), default=0.0,
                        help="training wall time in minutes (validation not counted)")
    p.add_argument("--data", default=None, help="a parallel text file (source<TAB>target); default: the grammar")
    p.add_argument("--seed", type=seed_flag, default=0)
    p.add_argument("--batch", type=int_flag(1, 4096), default=64, help="sentence pairs per step (default 64)")
    p.add_argument("--lr", type=float_flag(0.0, 1.0, lo_open=True), default=None, help="peak learning rate")
    p.add_argument("--hidden", type=int_flag(1, 4096), default=0, help="recurrent state width (default 256)")
    p.add_argument("--layers", type=int_flag(1, 16), default=0, help="recurrent layers or transformer blocks")
    p.add_argument("--d-model", type=int_flag(1, 4096), default=0, help="transformer width (default 128)")
    p.add_argument("--heads", type=int_flag(1, 64), default=0, help="transformer heads (default 4)")
    p.add_argument("--out", required=True, help="folder for the checkpoint (saved at each validation too)")
    p.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in --out")
    p.set_defaults(func=cmd_train)

    p = sub2.add_parser("translate", parents=[common], help="translate a sentence, with its alignment")
    p.add_argument("--checkpoint", required=True, help="a folder written by txe seq2seq train")
    p.add_argument("--text", required=True)
    p.add_argument("--beam", type=int_flag(1, MAX_BEAM), default=1, help="beam width (1: greedy)")
    p.add_argument("--alpha", type=float_flag(0.0, 10.0), default=1.0, help="beam length normalisation")
    p.add_argument("--all-heads", action="store_true", help="also every layer's and head's alignment")
    p.set_defaults(func=cmd_translate)

    p = sub2.add_parser("evaluate", parents=[common], help="exact match by source length, and BLEU")
    p.add_argument("--checkpoint", required=True, help="a folder written by txe seq2seq train")
    p.add_argument("--data", default=None, help="a parallel text file; default: the grammar's held-out test set")
    p.add_argument("--limit", type=int_flag(0, MAX_EVAL), default=0, help="evaluate on the first N pairs only")
    p.set_defaults(func=cmd_evaluate)
