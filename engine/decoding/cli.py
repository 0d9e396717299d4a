"""``txe generate``: greedy search, beam search (with its tree) or sampling from a checkpoint.

``--json`` prints one object: ``text`` (prompt + continuation), ``generated``, ``score`` (greedy and
sampling: the sum of log p; beam: the best hypothesis' sum log p / length^alpha), ``logprob``,
``tokens``, and for beam search ``nbest`` (``text``, ``score``, ...), ``tree`` (nodes with ``id``,
``parent``, ``token``, ``logprob``, ``cum_logprob``, ``score``, ``status``, ...; see engine.decoding.tree)
``greedy_nodes`` (the greedy path's nodes in the tree, for the overlay) and ``greedy`` (its ``text``,
``score`` and ``leaves_beam``: where it leaves the beam, see ``BeamTree.departure``).
"""

from __future__ import annotations

import argparse
from typing import Any

from engine.clikit import common_parent
from engine.decoding.sampling import check_sampling, sample
from engine.decoding.search import EARLY_STOPPING, BeamSearch, greedy
from engine.errors import UserError
from engine.model import MAX_CONTEXT, MAX_VOCAB
from engine.validate import float_flag, int_flag, seed_flag

MAX_NEW_TOKENS = 100_000
MAX_BEAM = 256

METHODS = ("greedy", "beam", "sample")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(text: str) -> str:
    r"""Read \n, \t, \r and \\ in a command-line text (a newline is awkward to type in a shell)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPES:
            out.append(_ESCAPES[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def cmd_generate(args: argparse.Namespace) -> dict[str, Any]:
    if args.method not in METHODS:
        raise UserError(f"unknown method {args.method!r}; use one of {', '.join(METHODS)}")
    if args.k < 1:
        raise UserError(f"--k must be at least 1 (got {args.k})")
    check_sampling(args.temperature, args.top_k, args.top_p)
    if args.max_new < 0:
        raise UserError(f"--max-new must be 0 or more (got {args.max_new})")
    eos = [unescape(e) for e in args.eos or []]
    from engine.models import open_model

    loaded = open_model(args.checkpoint)
    model, tok = loaded.model, loaded.tokenizer
    common = dict(eos=eos, window_keep=args.window_keep)
    out: dict[str, Any] = {"method": args.method, "checkpoint": str(loaded.path)}
    if args.method == "greedy":
        out |= greedy(model, tok, args.prompt, args.max_new, use_cache=not args.no_cache, **common).to_dict()
    elif args.method == "sample":
        out |= sample(model, tok, args.prompt, args.max_new, args.temperature, args.top_k, args.top_p, args.seed,
                      use_cache=not args.no_cache, **common).to_dict()
    else:
        search = BeamSearch(model, tok, args.prompt, k=args.k, alpha=args.alpha, max_new=args.max_new,
                            early_stopping=args.early_stopping, n_best=args.n_best, rejected=args.rejected,
                            use_cache=not args.no_cache, **common)
        result = search.run()
        path = greedy(model, tok, args.prompt, args.max_new, **common)
        out |= result.to_dict()
        out["tokens"] = [tok.token_text(i) for i in result.best.ids]
        out["greedy_nodes"] = result.tree.match(path.ids)
        out["greedy"] = {"text": path.text, "score": path.cum_logprob, "leaves_beam": result.tree.departure(path.ids)}
        out["settings"] = {"k": args.k, "alpha": args.alpha, "early_stopping": args.early_stopping, "eos": eos}
    return out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", parents=[common_parent()],
                       help="continue a prompt by greedy search, beam search or sampling")
    p.add_argument("--checkpoint", "--model", dest="checkpoint", default=None,
                   help="model: default (the embedded model), smollm2, a checkpoint or Hugging Face folder, or a "
                        ".gguf file")
    p.add_argument("--prompt", default="", help="the text to continue (default: empty, from <|bos|> alone)")
    p.add_argument("--method", default="greedy", help="greedy | beam | sample")
    p.add_argument("--max-new", type=int_flag(0, MAX_NEW_TOKENS), default=100, help="tokens to generate at most")
    p.add_argument("--eos", action="append", metavar="TEXT",
                   help=r"end-of-sequence token or stop text, repeatable; \n and \t are read (e.g. --eos '\n\n')")
    g = p.add_argument_group("beam search")
    g.add_argument("--k", type=int_flag(1, MAX_BEAM), default=4, help="beam width")
    g.add_argument("--alpha", type=float_flag(-10.0, 10.0), default=1.0,
                   help="length penalty: score = sum log p / length^alpha")
    g.add_argument("--early-stopping", default="heuristic", choices=list(EARLY_STOPPING),
                   help="when to stop once k hypotheses ended (Hugging Face: true, False = heuristic, never)")
    g.add_argument("--n-best", type=int_flag(1, MAX_BEAM), default=None,
                   help="hypotheses in the n-best list (default: k)")
    g.add_argument("--rejected", type=int_flag(0, 1000), default=3, help="best rejected tokens recorded per expansion")
    g = p.add_argument_group("sampling")
    g.add_argument("--temperature", type=float_flag(0.0, 1e4), default=1.0, help="0: greedy")
    g.add_argument("--top-k", type=int_flag(0, MAX_VOCAB), default=0, help="keep the k most probable tokens (0: off)")
    g.add_argument("--top-p", type=float_flag(0.0, 1.0, lo_open=True), default=1.0,
                   help="nucleus: keep the top tokens with this mass (1: off)")
    g.add_argument("--seed", type=seed_flag, default=None, help="random seed (default: drawn and reported)")
    g = p.add_argument_group("window")
    g.add_argument("--window-keep", type=int_flag(1, MAX_CONTEXT), default=None,
                   help="tokens kept when the text outgrows the context (default: context / 2)")
    g.add_argument("--no-cache", action="store_true", help="recompute the whole window every step (slower)")
    p.set_defaults(func=cmd_generate)
