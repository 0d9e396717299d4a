"""``txe finetune`` (fine-tune a model to classify texts, or compare it with training from scratch),
``txe classify`` (a fine-tuned classifier on one text, with each token's importance) and ``txe similarity``
(sentence embeddings: cosine matrix and nearest Shakespeare lines). See engine.finetune, engine.similarity.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.clikit import common_parent, progress
from engine.errors import UserError
from engine.tasks import CancelToken
from engine.validate import float_flag, int_flag, seed_flag

MAX_STEPS = 1_000_000
MAX_SIZE = 10_000_000


def _int_list(text: str, what: str, lo: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"{what} must be whole numbers separated by commas (got {text[:40]!r})") from None
    if not values or any(v < lo for v in values) or len(values) > 100:
        raise UserError(f"{what} must be 1 to 100 whole numbers of {lo} or more (got {text[:40]!r})")
    return values


def _base(spec: str) -> Any:
    from engine.models import open_model

    return open_model(spec)


def cmd_finetune(args: argparse.Namespace) -> dict[str, Any]:
    from engine.files import check_output
    from engine.finetune import finetune, is_finetuned, save_finetuned
    from engine.labelled import read_tsv, subsample
    from engine.transfer import steps_for, task_split, transfer_curve

    check_output(args.out, "--out", folder=True)
    out = Path(args.out)
    if out.is_dir() and any(out.iterdir()) and not is_finetuned(out):
        raise UserError(f"--out {out} exists and is not a fine-tuned classifier; choose a new or empty folder")
    task = args.task if args.task == "genre" else read_tsv(args.task)
    base = _base(args.checkpoint)
    token = CancelToken()
    result: dict[str, Any] = {}
    if args.compare:
        sizes = _int_list(args.sizes, "--sizes", 2)
        seeds = _int_list(args.seeds, "--seeds", 0)
        bar = progress(total=2 * len(sizes) * len(seeds), desc="compare")
        token.sink = lambda ev: bar.update(1) if ev[0] == "point" else None
        try:
            tr = transfer_curve(base, task, sizes, seeds, steps=args.steps, epochs=args.epochs, token=token)
        finally:
            bar.close()
        result |= {"sizes": tr.sizes, "pretrained_accuracy": tr.pretrained_mean(),
                   "scratch_accuracy": tr.scratch_mean(), "pretrained_std": tr.pretrained_std(),
                   "scratch_std": tr.scratch_std(), "pretrained_per_seed": tr.pretrained,
                   "scratch_per_seed": tr.scratch,
                   "seeds": list(seeds), "val_size": tr.val_size,
                   "steps": [steps_for(n, args.steps, args.epochs) for n in tr.sizes]}
    pool, val = task_split(task, args.seed)
    train = subsample(pool, args.size, args.seed) if args.size else pool
    bar = progress(total=args.steps, desc="finetune")

    def sink(ev: tuple) -> None:
        if ev[0] == "step":
            bar.update(1)
            bar.set_postfix(loss=f"{ev[2]:.3f}")

    token.sink = sink
    try:
        ft = finetune(base, train, val, steps=args.steps, seed=args.seed, token=token)
    finally:
        bar.close()
    out = save_finetuned(ft, args.out)
    return {"accuracy": ft.accuracy, "label_names": ft.label_names, "out": str(out), "train_size": len(train),
            "val_size": len(val), **result}


def cmd_classify(args: argparse.Namespace) -> dict[str, Any]:
    from engine.finetune import classify, load_finetuned

    ft = load_finetuned(args.checkpoint)
    return classify(ft, args.text).to_dict()


def cmd_similarity(args: argparse.Namespace) -> dict[str, Any]:
    from engine.similarity import nearest_lines, similarity_matrix

    loaded = _base(args.checkpoint)
    if loaded.model.cfg.causal:
        raise UserError(f"{args.checkpoint} is a causal (decoder) model; sentence similarity needs an encoder "
                        "such as minilm")
    matrix = similarity_matrix(loaded, args.sentences)
    result: dict[str, Any] = {"sentences": args.sentences, "matrix": [[round(float(v), 6) for v in row]
                                                                      for row in matrix]}
    if args.nearest:
        result["nearest"] = [[[line, play, round(c, 6)] for line, play, c in
                              nearest_lines(loaded, s, args.nearest, limit=args.limit)] for s in args.sentences]
    return result


def register(sub: argparse._SubParsersAction) -> None:
    common = common_parent()
    p = sub.add_parser("finetune", parents=[common], help="fine-tune a model to classify texts",
                       description="Fine-tune a pre-trained model (a linear head on its mean-pooled hidden states) "
                                   "on the genre task (Shakespeare's speeches: comedy, tragedy, history; validated "
                                   "on held-out plays) or a TSV file of text<TAB>label lines. With --compare, first "
                                   "measure the transfer curve: pre-trained vs from scratch, same budget.")
    p.add_argument("--checkpoint", "--model", dest="checkpoint", default="default",
                   help="the pre-trained model: default, minilm, smollm2 (slow), or a folder")
    p.add_argument("--task", required=True, help="genre, or FILE.tsv (text<TAB>label lines)")
    p.add_argument("--size", type=int_flag(0, MAX_SIZE), default=1000,
                   help="training examples (balanced; 0: all) (default 1000)")
    p.add_argument("--steps", type=int_flag(1, MAX_STEPS), default=150, help="optimizer steps of 16 texts")
    p.add_argument("--seed", type=seed_flag, default=0)
    p.add_argument("--compare", action="store_true", help="also measure pre-trained vs from scratch by size")
    p.add_argument("--sizes", default="100,300,1000,3000", help="with --compare: training sizes")
    p.add_argument("--seeds", default="0,1,2", help="with --compare: seeds per size")
    p.add_argument("--epochs", type=float_flag(0, 1000), default=4.0,
                   help="with --compare: at least this many passes over each size (more steps than --steps)")
    p.add_argument("--out", required=True, help="folder for the fine-tuned classifier")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("classify", parents=[common], help="classify a text with a fine-tuned model",
                       description="The class probabilities of a text, and per token the drop of the predicted "
                                   "class's probability when that token is left out.")
    p.add_argument("--checkpoint", required=True, help="a folder written by txe finetune")
    p.add_argument("--text", required=True)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("similarity", parents=[common], help="cosine similarity of sentence embeddings",
                       description="Mean-pooled, unit-length sentence embeddings (sentence-transformers' recipe) "
                                   "of an encoder; their cosine matrix, and with --nearest the most similar "
                                   "Shakespeare lines.")
    p.add_argument("sentences", nargs="+", help="the sentences")
    p.add_argument("--model", "--checkpoint", dest="checkpoint", default="minilm", help="an encoder (default minilm)")
    p.add_argument("--nearest", type=int_flag(0, 1000), default=0, help="K nearest corpus lines per sentence")
    p.add_argument("--limit", type=int_flag(1, 1_000_000), default=5000, help="corpus lines to search (default 5000)")
    p.set_defaults(func=cmd_similarity)

