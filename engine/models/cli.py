"""``txe models`` (what can be opened) and ``txe chat`` (ask an instruct model, the answer streamed)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.clikit import common_parent
from engine.validate import float_flag, int_flag, seed_flag

MAX_NEW_TOKENS = 100_000


def cmd_models(args: argparse.Namespace) -> list[dict[str, Any]]:
    from engine.models import list_models

    return list_models()


def cmd_chat(args: argparse.Namespace) -> dict[str, Any]:
    from engine.chat import chat_stream
    from engine.decoding.cli import unescape
    from engine.models import open_model

    messages = ([{"role": "system", "content": unescape(args.system)}] if args.system else []) + \
        [{"role": "user", "content": unescape(args.question)}]
    loaded = open_model(args.checkpoint)
    stream = chat_stream(loaded, messages, max_new=args.max_new, temperature=args.temperature, top_k=args.top_k,
                         top_p=args.top_p, seed=args.seed)
    tokens = []
    for t in stream:
        tokens.append(t)
        if not args.json:
            sys.stdout.write(t.text)
            sys.stdout.flush()
    answer = loaded.tokenizer.decode([t.token_id for t in tokens])
    if not args.json:
        sys.stdout.write("\n")
        return {}
    return {"answer": answer, "tokens": [[t.token, t.prob] for t in tokens], "model": loaded.config.get("name")}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", parents=[common_parent()], help="the models that can be opened by name",
                       description="default, default-mlm, default-bpe, smollm2 and minilm (when installed): name, "
                                   "architecture, layers, heads, key/value heads, parameters, path, context.")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("chat", parents=[common_parent()], help="ask an instruct model; the answer streams",
                       description="Renders the model's chat template over the question (and --system), then "
                                   "prints the answer as it is generated (greedy unless --temperature > 0).")
    p.add_argument("question", help=r"the user's message (\n and \t are read)")
    p.add_argument("--model", "--checkpoint", dest="checkpoint", default="smollm2",
                   help="an instruct model: smollm2 (default), a Hugging Face folder or a .gguf file")
    p.add_argument("--system", default=None, help="a system message (the template's default otherwise)")
    p.add_argument("--max-new", type=int_flag(0, MAX_NEW_TOKENS), default=256, help="tokens to generate at most")
    p.add_argument("--temperature", type=float_flag(0.0, 1e4), default=0.0, help="0 (default): greedy")
    p.add_argument("--top-k", type=int_flag(0, 1 << 24), default=0, help="keep the k most probable tokens (0: off)")
    p.add_argument("--top-p", type=float_flag(0.0, 1.0, lo_open=True), default=1.0,
                   help="nucleus: keep the top tokens with this mass (1: off)")
    p.add_argument("--seed", type=seed_flag, default=None, help="random seed for sampling")
    p.set_defaults(func=cmd_chat)
