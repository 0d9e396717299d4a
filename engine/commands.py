"""The core ``txe`` subcommands: train, sample, score, attention, info (see engine.cli)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from engine.checkpoint import load_checkpoint, resolve_checkpoint
from engine.clikit import common_parent, progress
from engine.errors import UserError
from engine.events import Evaluation, Finished, Progress, Saved
from engine.inference import attention_for_text, sample_text, score_text
from engine.training import TrainConfig, Trainer


def _text_arg(args: argparse.Namespace) -> str:
    """--text TEXT or --text-file PATH (UTF-8)."""
    if getattr(args, "text_file", None):
        from engine.corpus import read_text_file

        return read_text_file(args.text_file, max_bytes=16 * 2**20)
    return args.text


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    cfg = TrainConfig(
        corpus=args.corpus, tokenizer=args.tokenizer, vocab_size=args.vocab_size, split=args.split,
        context=args.context, d=args.d_model, H=args.heads, L=args.layers, m=args.d_ff,
        positional=args.positional, norm=args.norm, activation=args.activation, tied=not args.untied,
        dropout=args.dropout, batch=args.batch, steps=args.steps, lr=args.lr, min_lr=args.min_lr,
        warmup=args.warmup, seed=args.seed, eval_every=args.eval_every, snapshot_every=args.snapshot_every,
        autosave_every=args.autosave_every, out=args.out, weights_only=args.weights_only)
    trainer = Trainer(cfg, resume=args.resume)
    bar = progress(total=cfg.steps, desc="train")
    bar.update(trainer.step)
    summary: dict[str, Any] = {}
    try:
        for event in trainer.run():
            if isinstance(event, Progress):
                bar.update(1)
                bar.set_postfix(loss=f"{event.metrics['loss']:.3f}", tok_s=f"{event.metrics['tokens_per_s']:,.0f}")
            elif isinstance(event, Evaluation):
                m = event.metrics
                bar.write(f"step {event.step}: train {m['train_loss']:.4f}  val {m['val_loss']:.4f}", file=sys.stderr)
            elif isinstance(event, Saved):
                bar.set_description(f"train (saved at {event.step})")
            elif isinstance(event, Finished):
                summary = event.summary
    except KeyboardInterrupt:
        trainer.save()  # a stop keeps everything up to the last finished step
        raise
    finally:
        bar.close()
    return summary


def cmd_sample(args: argparse.Namespace) -> dict[str, Any]:
    loaded = load_checkpoint(args.checkpoint)
    text = sample_text(loaded.model, loaded.tokenizer, args.prompt, args.max_new, args.temperature, args.seed)
    return {"text": text, "checkpoint": str(loaded.path)}


def cmd_score(args: argparse.Namespace) -> dict[str, Any]:
    loaded = load_checkpoint(args.checkpoint)
    score = score_text(loaded.model, loaded.tokenizer, _text_arg(args))
    return {**score.to_dict(), "unknown_tokens": score.ids.count(loaded.tokenizer.unk_id)}


def cmd_attention(args: argparse.Namespace) -> dict[str, Any]:
    loaded = load_checkpoint(args.checkpoint)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UserError(f"--out must end in .npz (got {out.name})")
    if not out.parent.exists():
        raise UserError(f"folder {out.parent} does not exist")
    cap = attention_for_text(loaded.model, loaded.tokenizer, _text_arg(args), window=args.window, scores=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, attention=cap.attention.astype(np.float32), scores=cap.scores,
                        tokens=np.array(cap.tokens), offsets=np.array(cap.offsets, dtype=np.int64))
    tmp.replace(out)
    L, H, T, _ = cap.attention.shape
    return {"layers": L, "heads": H, "tokens": cap.tokens, "truncated": cap.truncated, "out": str(out)}


def cmd_info(args: argparse.Namespace) -> dict[str, Any]:
    loaded = load_checkpoint(args.checkpoint)
    return {"checkpoint": str(loaded.path), "step": loaded.step, "model": loaded.config["model"],
            "tokenizer": loaded.tokenizer.kind, "vocab_size": loaded.tokenizer.vocab_size,
            "parameters": loaded.model.num_parameters(), "corpus": loaded.config.get("corpus")}


def _checkpoint_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None,
                   help=f"checkpoint folder (default: the embedded model, {resolve_checkpoint(None)})")


def _text_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--text", help="the text")
    g.add_argument("--text-file", help="read the text from a UTF-8 file")


def register(sub: argparse._SubParsersAction) -> None:
    common = common_parent()
    p = sub.add_parser("train", parents=[common], help="train a GPT on a corpus")
    p.add_argument("--corpus", default="shakespeare", help="shakespeare, shakespeare:GENRE[,GENRE] or a UTF-8 file")
    p.add_argument("--tokenizer", default="char", choices=["char", "word", "bpe"])
    p.add_argument("--vocab-size", type=int, default=0, help="0: all characters/words; BPE default 1024")
    p.add_argument("--split", default="auto", choices=["auto", "play", "block"])
    p.add_argument("--layers", type=int, default=4, help="L")
    p.add_argument("--heads", type=int, default=4, help="H")
    p.add_argument("--d-model", type=int, default=128, help="d")
    p.add_argument("--d-ff", type=int, default=0, help="m (0: 4 d)")
    p.add_argument("--context", type=int, default=64, help="T")
    p.add_argument("--positional", default="learned", choices=["learned", "sinusoidal"])
    p.add_argument("--norm", default="pre", choices=["pre", "post"])
    p.add_argument("--activation", default="gelu", choices=["gelu", "relu"])
    p.add_argument("--untied", action="store_true", help="separate unembedding matrix")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--snapshot-every", type=int, default=0, help="probe snapshots (for the app; 0 in the CLI)")
    p.add_argument("--autosave-every", type=int, default=500)
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--weights-only", action="store_true",
                   help="final checkpoint without optimizer state (smaller, for shipping; cannot be resumed)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", parents=[common], help="continue a prompt by sampling")
    _checkpoint_option(p)
    p.add_argument("--prompt", required=True)
    p.add_argument("--max-new", type=int, default=200)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("score", parents=[common], help="log-probability of a text, token by token")
    _checkpoint_option(p)
    _text_options(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("attention", parents=[common], help="attention weights (L, H, T, T) of a text to .npz")
    _checkpoint_option(p)
    _text_options(p)
    p.add_argument("--out", required=True, help="FILE.npz")
    p.add_argument("--window", default="error", choices=["error", "last"],
                   help="text longer than the context: refuse (error) or keep the last tokens (last)")
    p.set_defaults(func=cmd_attention)

    p = sub.add_parser("info", parents=[common], help="describe a checkpoint")
    _checkpoint_option(p)
    p.set_defaults(func=cmd_info)
