"""``txe ablate``, ``txe logit-lens``, ``txe heads`` and ``txe compare`` (issue 15; see engine.cli).

Each takes ``--checkpoint`` as the other commands do (default, smollm2, default-bpe, a checkpoint or Hugging
Face folder, a .gguf file). A text longer than the model's context keeps its last tokens; the result says
how many were left out (``truncated``) and the readable output says so in a line.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from engine.clikit import common_parent
from engine.commands import _checkpoint_option, _text_arg, _text_options
from engine.errors import UserError
from engine.validate import int_flag, seed_flag

SHOWN = 12  # positions in a readable table


def _open(spec: str | None):  # noqa: ANN202
    from engine.models import open_model

    loaded = open_model(spec)
    return loaded, loaded.model, loaded.tokenizer


def _note_truncated(n: int, end: str = "first") -> None:
    if n:
        print(f"note: the text is longer than the model's context; its {end} {n} tokens were left out")


def _grid(name: str, m: np.ndarray) -> None:
    """An (L, H) matrix as rows of numbers."""
    print(f"{name} (rows: layers, columns: heads)")
    for layer, row in enumerate(m):
        print(f"  {layer:>3}  " + " ".join(f"{v:7.3f}" for v in row))


def cmd_ablate(args: argparse.Namespace) -> dict[str, Any]:
    from engine.interp.ablation import every_head_effect, intervene, parse_sites
    from engine.interp.encoder import is_encoder

    sites = parse_sites(args.heads or "", args.mlp or "")
    if not sites and not args.every:
        raise UserError("nothing to switch off: give --heads L.H[,L.H...], --mlp L[,L...] or --every")
    if args.every and args.mode == "patch":
        raise UserError("--every switches heads off one at a time: --mode zero or mean")
    if args.mode != "patch" and (args.source is not None or args.last is not None):
        raise UserError("--source and --last are for --mode patch")
    text = _text_arg(args)
    _, model, tok = _open(args.checkpoint)
    if is_encoder(model):
        return _ablate_encoder(args, model, tok, text, sites)
    if args.every:
        effect = every_head_effect(model, tok, text, args.mode)
        if args.json:
            return effect.to_dict()
        _note_truncated(effect.truncated)
        print(f"loss {effect.loss_before:.4f}; change when each head is switched off ({args.mode}):")
        _grid("loss change", effect.effect)
        return {}
    r = intervene(model, tok, text, sites, args.mode, source=args.source, last=args.last, top=args.top)
    if args.json:
        return r.to_dict()
    _note_truncated(r.truncated)
    print(f"switched {'from the source' if args.mode == 'patch' else 'off'} ({args.mode}): {', '.join(r.sites)}")
    print(f"loss: {r.loss_before:.4f} -> {r.loss_after:.4f} ({r.loss_after - r.loss_before:+.4f})")
    changed = np.argsort(-np.abs(r.per_token_after - r.per_token_before))[:SHOWN]
    print("tokens whose loss changed most:")
    for t in sorted(changed):
        print(f"  {t + 1:>4} {r.tokens[t + 1]!r:>10}  {r.per_token_before[t]:.3f} -> {r.per_token_after[t]:.3f}")
    print(f"next token after the text (KL {r.kl[-1]:.4f}):")
    for (tb, pb), (ta, pa) in zip(r.top_before[:5], r.top_after[:5], strict=True):
        print(f"  {tb!r:>12} {pb:.3f}    {ta!r:>12} {pa:.3f}")
    return {}


def _ablate_encoder(args: argparse.Namespace, model: Any, tok: Any, text: str, sites: list) -> dict[str, Any]:
    """An encoder has no next token: the change of its sentence embedding and of each token's output vector."""
    from engine.interp.encoder import every_head_embedding_effect, intervene_encoder

    if args.every:
        effect = every_head_embedding_effect(model, tok, text, args.mode)
        if args.json:
            return effect.to_dict()
        _note_truncated(effect.truncated, "last")
        print(f"1 - cosine of the sentence embedding to the clean one when each head is switched off ({args.mode}):")
        _grid("embedding change", effect.effect)
        return {}
    r = intervene_encoder(model, tok, text, sites, args.mode, source=args.source, last=args.last)
    if args.json:
        return r.to_dict()
    _note_truncated(r.truncated, "last")
    print(f"switched {'from the source' if args.mode == 'patch' else 'off'} ({args.mode}): {', '.join(r.sites)}")
    print(f"sentence embedding: cosine to the clean one {r.cosine:.5f} (change {r.change:.5f})")
    print("tokens whose output vectors moved most (1 - cosine):")
    for t, c in r.most_moved(SHOWN):
        print(f"  {t!r:>12}  {c:.5f}")
    return {}


def cmd_logit_lens(args: argparse.Namespace) -> dict[str, Any]:
    from engine.interp.lens import logit_lens

    _, model, tok = _open(args.checkpoint)
    lens = logit_lens(model, tok, _text_arg(args), args.top)
    if args.json:
        return lens.to_dict()
    _note_truncated(lens.truncated)
    T = len(lens.tokens)
    cols = range(max(0, T - SHOWN), T)
    what = "the next token" if lens.objective == "next" else "the token at each position"
    print(f"top prediction of {what} after each layer (last {len(cols)} positions)")
    print(f"{'':>12} " + " ".join(f"{lens.tokens[i]!r:>9}" for i in cols))
    for layer, name in enumerate(lens.layers):
        print(f"{name:>12} " + " ".join(f"{lens.top_tokens[layer][i][0]!r:>9}" for i in cols))
    return {}


def _positions(spec: str, T: int) -> list[int] | None:
    """``--positions``: "all" (None), or positions from 0, negative from the end ("-1": the last token)."""
    if spec.strip() == "all":
        return None
    rows = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        try:
            p = int(item)
        except ValueError:
            raise UserError(f"malformed position {item[:40]!r}: write whole numbers (-1: the last token) or all") \
                from None
        if not -T <= p < T:
            raise UserError(f"position {p} is outside the text's {T} tokens (0 to {T - 1}, or -1 to -{T})")
        rows.append(p % T)
    if not rows:
        raise UserError("give at least one position, or all")
    return list(dict.fromkeys(rows))


def cmd_rollout(args: argparse.Namespace) -> dict[str, Any]:
    from engine.interp.rollout import rollout_for_text

    _, model, tok = _open(args.checkpoint)
    r = rollout_for_text(model, tok, _text_arg(args))
    L, T = r.rollout.shape[0], len(r.tokens)
    layer = L - 1 if args.layer is None else args.layer
    if not 0 <= layer < L:
        raise UserError(f"the model has layers 0 to {L - 1}, not {layer}")
    rows = _positions(args.positions, T)
    flows = r.flow_rows(rows) if args.flow and rows is not None else None
    if args.flow and rows is None:
        from engine.interp.rollout import flow

        flows = flow(np.empty(0), mixed=r.mixed)
    shown = list(range(T)) if rows is None else rows
    if args.json:
        return r.to_dict(layer, flows, shown if flows is not None else None)
    _note_truncated(r.truncated)
    for k, i in enumerate(shown[-SHOWN:] if rows is None else shown):
        top = np.argsort(-r.rollout[layer][i], kind="stable")[:8]
        print(f"position {i} {r.tokens[i]!r}: rollout after layer {layer} from "
              + ", ".join(f"{j}:{r.tokens[j]!r} {r.rollout[layer][i, j]:.3f}" for j in top))
        if flows is not None:
            row = flows[shown.index(i) if rows is None else k]
            top = np.argsort(-row, kind="stable")[:8]
            print("    flow from " + ", ".join(f"{j}:{r.tokens[j]!r} {row[j]:.3f}" for j in top))
    return {}


def cmd_heads(args: argparse.Namespace) -> dict[str, Any]:
    from engine.interp.heads import head_scores

    _, model, tok = _open(args.checkpoint)
    s = head_scores(model, tok, args.segment, args.batch, args.seed)
    if args.json:
        return s.to_dict()
    print(f"head scores on {args.batch} random segments of {s.n} tokens, each repeated (seed {args.seed})")
    for name, m in s.scores.items():
        _grid(name, m)
    return {}


def cmd_compare(args: argparse.Namespace) -> dict[str, Any]:
    from engine.interp.compare import compare

    _, ma, ta = _open(args.a)
    _, mb, tb = _open(args.b)
    c = compare((ma, ta), (mb, tb), _text_arg(args), (args.a, args.b), args.seed)
    if args.json:
        return c.to_dict()
    _note_truncated(c.truncated)
    a, b = c.names
    if not c.has_loss:
        print("an encoder predicts no next token: no per-token loss, attention and head scores only")
    else:
        print(f"loss: {a} {c.per_token[0].mean():.4f}, {b} {c.per_token[1].mean():.4f} "
              f"({b} - {a}: {c.loss_diff.mean():+.4f})")
        print("tokens whose loss differs most:")
        for t in sorted(np.argsort(-np.abs(c.loss_diff))[:SHOWN]):
            print(f"  {t + 1:>4} {c.tokens[t + 1]!r:>10}  {c.per_token[0][t]:.3f}  {c.per_token[1][t]:.3f}  "
                  f"{c.loss_diff[t]:+.3f}")
    diff = c.scores_diff
    if diff is None:
        print(f"the models differ in shape (attention {c.attention[0].shape} vs {c.attention[1].shape}): "
              "no differences of head scores or attention")
    else:
        for name, m in diff.items():
            _grid(f"{name}, {b} - {a}", m)
        _grid(f"mean |attention {b} - {a}|", np.abs(c.attention_diff).mean((-1, -2)))
    return {}


def register(sub: argparse._SubParsersAction) -> None:
    common = common_parent()
    p = sub.add_parser("ablate", parents=[common], help="switch heads or MLPs off (or patch them); the change in loss",
                       description="Zero- or mean-ablate heads (layer.head, from 0) and MLPs, or patch them from "
                                   "another prompt, in one forward pass: loss before and after, per token, and "
                                   "the next-token distribution. --every: each head alone, the L x H matrix.")
    _checkpoint_option(p)
    _text_options(p)
    p.add_argument("--heads", default=None, help="L.H[,L.H...], e.g. 0.1,3.2")
    p.add_argument("--mlp", default=None, help="MLP layers L[,L...]")
    p.add_argument("--mode", default="zero", choices=["zero", "mean", "patch"],
                   help="zero (default), mean (over the text's positions), patch (from --source)")
    p.add_argument("--source", default=None, help="--mode patch: the prompt to patch from")
    p.add_argument("--last", type=int_flag(1, 1 << 20), default=None,
                   help="--mode patch: patch only the last K positions (prompts of different lengths)")
    p.add_argument("--every", action="store_true", help="switch off every head, one at a time: effect (L x H)")
    p.add_argument("--top", type=int_flag(1, 1000), default=10, help="next tokens listed (default 10)")
    p.set_defaults(func=cmd_ablate)

    p = sub.add_parser("logit-lens", parents=[common], help="each layer's top predictions at every position",
                       description="The residual stream after each layer through the final norm and the "
                                   "unembedding: the top tokens and their probabilities per layer and position.")
    _checkpoint_option(p)
    _text_options(p)
    p.add_argument("--top", type=int_flag(1, 1000), default=5, help="tokens per layer and position (default 5)")
    p.set_defaults(func=cmd_logit_lens)

    p = sub.add_parser("rollout", parents=[common], help="attention rollout and flow across the layers",
                       description="How much of each input token reaches each position through the layers "
                                   "(Abnar & Zuidema 2020): rollout after a layer (JSON: rollout, T x T) and, with "
                                   "--flow, the attention flow from --positions (JSON: flow {rows, values}).")
    _checkpoint_option(p)
    _text_options(p)
    p.add_argument("--layer", type=int_flag(0, 1 << 20), default=None, help="rollout after this layer (default: last)")
    p.add_argument("--flow", action="store_true", help="also the attention flow (max-flow) from --positions")
    p.add_argument("--positions", default="-1",
                   help="the positions whose sources are listed (and whose flow --flow computes): comma-separated, "
                        "-1 the last token (default), or all")
    p.set_defaults(func=cmd_rollout)

    p = sub.add_parser("heads", parents=[common], help="previous-token, first-token, duplicate and induction scores",
                       description="Every head's scores on random token segments repeated twice (seeded): "
                                   "JSON {scores: {name: L x H}}.")
    _checkpoint_option(p)
    p.add_argument("--segment", type=int_flag(2, 1 << 20), default=None, help="segment length (default 40)")
    p.add_argument("--batch", type=int_flag(1, 1024), default=8, help="sequences (default 8)")
    p.add_argument("--seed", type=seed_flag, default=0)
    p.set_defaults(func=cmd_heads)

    p = sub.add_parser("compare", parents=[common], help="two models or checkpoints on one text, and the difference",
                       description="Per-token loss, head scores and attention of A and B (same tokenizer), "
                                   "and B - A.")
    p.add_argument("a", help="model A (a name, a checkpoint folder or a .gguf file)")
    p.add_argument("b", help="model B")
    _text_options(p)
    p.add_argument("--seed", type=seed_flag, default=0, help="seed of the head scores' probe data")
    p.set_defaults(func=cmd_compare)
