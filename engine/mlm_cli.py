"""``txe fill-mask``: what a masked language model puts in each [MASK] of a text (seed 001, Figure 11.5)."""

from __future__ import annotations

import argparse
from typing import Any

from engine.clikit import common_parent
from engine.validate import int_flag


def cmd_fill_mask(args: argparse.Namespace) -> dict[str, Any]:
    from engine.commands import _text_arg
    from engine.mlm import fill_mask
    from engine.models import open_model

    loaded = open_model(args.checkpoint)
    result = fill_mask(loaded.model, loaded.tokenizer, _text_arg(args), top=args.top)
    if args.json:
        return result.to_dict()
    out: dict[str, Any] = {"tokens": "".join(result.tokens)}
    for n, (pos, cands) in enumerate(zip(result.positions, result.candidates, strict=True)):
        out[f"mask {n + 1} (token {pos})"] = "  ".join(f"{t!r} {p:.3f}" for t, p in cands)
    return out


def register(sub: argparse._SubParsersAction) -> None:
    from engine.commands import MODEL_HELP, _text_options

    p = sub.add_parser("fill-mask", parents=[common_parent()], help="a masked model's guesses for each [MASK]",
                       description='Put [MASK] where a token should be guessed, e.g. --text "To be, or not to '
                                   '[MASK], that is the question." (a masked model: default-mlm).')
    p.add_argument("--checkpoint", "--model", dest="checkpoint", default="default-mlm", help=MODEL_HELP)
    _text_options(p)
    p.add_argument("--top", type=int_flag(1, 1000), default=5, help="candidates per mask (default 5)")
    p.set_defaults(func=cmd_fill_mask)
