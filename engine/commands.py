"""The core ``txe`` subcommands: train, sample, score, attention, info (see engine.cli)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from engine.checkpoint import has_checkpoint, last_good, read_config
from engine.clikit import common_parent, progress
from engine.errors import UserError
from engine.events import Evaluation, Finished, Progress, Saved
from engine.files import atomic_write, check_output
from engine.inference import attention_for_text, score_text
from engine.models import open_model
from engine.signals import Interrupted, signal_name, stop_on_signals
from engine.tasks import CancelToken
from engine.training import CHANGEABLE_ON_RESUME, FLOAT_LIMITS, INT_LIMITS, TrainConfig, Trainer
from engine.validate import float_flag, int_flag, seed_flag

MAX_NEW_TOKENS = 100_000


def _text_arg(args: argparse.Namespace) -> str:
    """--text TEXT or --text-file PATH (UTF-8)."""
    if getattr(args, "text_file", None):
        from engine.corpus import read_text_file

        return read_text_file(args.text_file, max_bytes=16 * 2**20)
    return args.text


# train flags whose value is a setting of the run: None when not given, so that --resume takes the
# checkpoint's value and a different one given explicitly is refused (see engine.training.check_resume)
RUN_FLAGS = {"corpus": "corpus", "tokenizer": "tokenizer", "vocab_size": "vocab_size", "split": "split",
             "context": "context", "d_model": "d", "heads": "H", "layers": "L", "d_ff": "m",
             "positional": "positional", "norm": "norm", "activation": "activation", "dropout": "dropout",
             "batch": "batch", "seed": "seed", "objective": "objective", "tokenizer_from": "tokenizer_from"}
OTHER_FLAGS = {"steps": "steps", "lr": "lr", "min_lr": "min_lr", "warmup": "warmup", "eval_every": "eval_every",
               "snapshot_every": "snapshot_every", "autosave_every": "autosave_every"}
CLI_DEFAULTS = {"snapshot_every": 0}  # the CLI has no one to show probe snapshots to


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The run's settings: the flags given, then (with --resume) the checkpoint's, then the defaults."""
    given = {field: getattr(args, flag) for flag, field in (RUN_FLAGS | OTHER_FLAGS).items()
             if getattr(args, flag) is not None}
    if args.untied:
        given["tied"] = False
    saved: dict[str, Any] = {}
    if args.resume and has_checkpoint(args.out):
        saved = read_config(args.out).get("train") or {}
    fields = set(TrainConfig.__dataclass_fields__)
    settings = {k: v for k, v in saved.items() if k in fields and k not in CHANGEABLE_ON_RESUME}
    settings |= CLI_DEFAULTS | given
    settings |= {"out": args.out, "weights_only": args.weights_only, "live": not args.no_live}
    if settings.get("objective") == "mlm" and "tokenizer" not in settings:
        settings["tokenizer"] = "bpe"  # a masked model's default: BPE (subword tokens, as BERT's)
    return TrainConfig(**settings)


def cmd_train(args: argparse.Namespace) -> dict[str, Any] | None:
    """One process, or one of the processes torchrun started (engine.distributed): then rank 0 prepares the
    run, reports and saves, and the others print nothing."""
    from engine import distributed

    cfg = train_config(args)
    world = distributed.start()
    try:
        with world.main_first():
            trainer = Trainer(cfg, resume=args.resume, overwrite=args.overwrite, world=world)
        summary = _train(trainer, cfg, quiet=not world.is_main)
    finally:
        distributed.stop(world)
    return summary if world.is_main else None


def _train(trainer: Trainer, cfg: TrainConfig, quiet: bool) -> dict[str, Any]:
    token = CancelToken()
    bar = progress(total=cfg.steps, desc="train")
    bar.disable = bar.disable or quiet
    bar.update(trainer.step)
    summary: dict[str, Any] = {}
    with stop_on_signals(token) as stop:
        try:
            for event in trainer.run(token):
                if isinstance(event, Progress):
                    bar.update(1)
                    bar.set_postfix(loss=f"{event.metrics['loss']:.3f}",
                                    tok_s=f"{event.metrics['tokens_per_s']:,.0f}")
                elif isinstance(event, Evaluation):
                    m = event.metrics
                    acc = f"  val accuracy {m['val_accuracy']:.3f}" if "val_accuracy" in m else ""
                    bar.write(f"step {event.step}: train {m['train_loss']:.4f}  val {m['val_loss']:.4f}{acc}",
                              file=sys.stderr)
                elif isinstance(event, Saved):
                    bar.set_description(f"train (saved at {event.step})")
                elif isinstance(event, Finished):
                    summary = event.summary
        except KeyboardInterrupt as e:  # a second signal: stop now; the last save is intact
            raise Interrupted(getattr(e, "signum", 2), f"interrupted at step {trainer.step}; "
                              f"{last_good(Path(cfg.out)) if cfg.out else 'nothing was saved'}") from None
        finally:
            bar.close()
    if stop.signum is not None:
        saved = f"saved step {trainer.step} to {cfg.out}" if cfg.out else "nothing saved (no --out)"
        raise Interrupted(stop.signum, f"stopped by {signal_name(stop.signum)}; {saved}")
    return summary


def cmd_sample(args: argparse.Namespace) -> dict[str, Any]:
    """``txe generate --method sample`` by a shorter name: the same cached decoder, the same result."""
    from engine.decoding.sampling import sample

    loaded = open_model(args.checkpoint)
    gen = sample(loaded.model, loaded.tokenizer, args.prompt, args.max_new, args.temperature, args.top_k, args.top_p,
                 args.seed)
    return {"method": "sample", "checkpoint": str(loaded.path), **gen.to_dict()}


def cmd_score(args: argparse.Namespace) -> dict[str, Any]:
    loaded = open_model(args.checkpoint)
    score = score_text(loaded.model, loaded.tokenizer, _text_arg(args))
    unk = loaded.tokenizer.unk_id
    return {**score.to_dict(), "unknown_tokens": score.ids.count(unk) if unk is not None else 0}


def cmd_attention(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UserError(f"--out must end in .npz (got {out.name[:60]})")
    check_output(out)
    loaded = open_model(args.checkpoint)
    cap = attention_for_text(loaded.model, loaded.tokenizer, _text_arg(args), window=args.window, scores=True)
    atomic_write(out, lambda f: np.savez_compressed(
        f, attention=cap.attention.astype(np.float32), scores=cap.scores, tokens=np.array(cap.tokens),
        offsets=np.array(cap.offsets, dtype=np.int64)))
    L, H, T, _ = cap.attention.shape
    return {"layers": L, "heads": H, "tokens": cap.tokens, "truncated": cap.truncated, "causal": cap.causal,
            "out": str(out)}


def cmd_info(args: argparse.Namespace) -> dict[str, Any]:
    loaded = open_model(args.checkpoint)
    c, tok = loaded.model.cfg, loaded.tokenizer
    return {"checkpoint": str(loaded.path), "name": loaded.config.get("name"),
            "architecture": loaded.config.get("architecture"), "title": loaded.config.get("title"),
            "step": loaded.step, "model": loaded.config["model"], "tokenizer": tok.kind, "vocab_size": tok.vocab_size,
            "parameters": loaded.model.num_parameters(), "layers": c.L, "heads": c.H, "kv_heads": c.kv_heads,
            "d": c.d, "context": c.context, "causal": c.causal, "lm_head": loaded.model.has_lm_head,
            "chat": bool(loaded.config.get("chat_template")),
            "start_tokens": [tok.token_text(i) for i in tok.prefix_ids],
            "end_tokens": [tok.token_text(i) for i in tok.eos_ids], "corpus": loaded.config.get("corpus"),
            "objective": loaded.config.get("objective", "next")}


MODEL_HELP = ("model: default (the embedded model), default-mlm, default-bpe, smollm2, minilm, a checkpoint or "
              "Hugging Face folder, or a .gguf file")


def _checkpoint_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", "--model", dest="checkpoint", default=None, help=MODEL_HELP)


def _text_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--text", help="the text")
    g.add_argument("--text-file", help="read the text from a UTF-8 file")


def register(sub: argparse._SubParsersAction) -> None:
    common = common_parent()
    p = sub.add_parser("train", parents=[common], help="train a GPT on a corpus",
                       description="Train a GPT. With --resume, settings not given are the checkpoint's; "
                                   "only steps, the learning-rate schedule and the eval/snapshot/autosave "
                                   "intervals may differ from it.")

    def whole_number(field: str):  # noqa: ANN202
        return int_flag(*INT_LIMITS[field])

    def number(field: str):  # noqa: ANN202
        lo, hi, lo_open, hi_open = FLOAT_LIMITS[field]
        return float_flag(lo, hi, lo_open, hi_open)

    p.add_argument("--corpus", default=None,
                   help="shakespeare (default), shakespeare:GENRE[,GENRE] or a UTF-8 file")
    p.add_argument("--tokenizer", default=None, choices=["char", "word", "bpe"],
                   help="default char (bpe with --objective mlm)")
    p.add_argument("--tokenizer-from", default=None, metavar="DIR|NAME",
                   help="use this checkpoint's tokenizer (e.g. the twin of a masked model) instead of training one")
    p.add_argument("--objective", default=None, choices=["next", "mlm"],
                   help="next (default): next-token prediction; mlm: a masked language model (BERT)")
    p.add_argument("--vocab-size", type=whole_number("vocab_size"), default=None,
                   help="0 (default): all characters/words; BPE default 1024")
    p.add_argument("--split", default=None, choices=["auto", "play", "block"], help="default auto")
    p.add_argument("--layers", type=whole_number("L"), default=None, help="L (default 4)")
    p.add_argument("--heads", type=whole_number("H"), default=None, help="H (default 4)")
    p.add_argument("--d-model", type=whole_number("d"), default=None, help="d (default 128)")
    p.add_argument("--d-ff", type=whole_number("m"), default=None, help="m (default 0: 4 d)")
    p.add_argument("--context", type=whole_number("context"), default=None, help="T (default 64)")
    p.add_argument("--positional", default=None, choices=["learned", "sinusoidal"], help="default learned")
    p.add_argument("--norm", default=None, choices=["pre", "post"], help="default pre")
    p.add_argument("--activation", default=None, choices=["gelu", "relu"], help="default gelu")
    p.add_argument("--untied", action="store_true", help="separate unembedding matrix")
    p.add_argument("--dropout", type=number("dropout"), default=None, help="in [0, 1) (default 0)")
    p.add_argument("--batch", type=whole_number("batch"), default=None, help="default 12")
    p.add_argument("--steps", type=whole_number("steps"), default=2000)
    p.add_argument("--lr", type=number("lr"), default=2e-3)
    p.add_argument("--min-lr", type=number("min_lr"), default=2e-4)
    p.add_argument("--warmup", type=whole_number("warmup"), default=100)
    p.add_argument("--seed", type=seed_flag, default=None, help="default 1337")
    p.add_argument("--eval-every", type=whole_number("eval_every"), default=250)
    p.add_argument("--snapshot-every", type=whole_number("snapshot_every"), default=None,
                   help="probe snapshots (for the app; 0 in the CLI)")
    p.add_argument("--autosave-every", type=whole_number("autosave_every"), default=500)
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--overwrite", action="store_true", help="replace the run saved in --out (at the first save)")
    p.add_argument("--weights-only", action="store_true",
                   help="final checkpoint without optimizer state (smaller, for shipping; cannot be resumed)")
    p.add_argument("--no-live", action="store_true",
                   help="do not write the live log OUT.live/ (events and probe snapshots another process can follow)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", parents=[common],
                       help="continue a prompt by sampling (txe generate --method sample, by a shorter name)")
    _checkpoint_option(p)
    p.add_argument("--prompt", required=True)
    p.add_argument("--max-new", type=int_flag(0, MAX_NEW_TOKENS), default=200)
    p.add_argument("--temperature", type=float_flag(0.0, 1e4), default=1.0)
    p.add_argument("--top-k", type=int_flag(0, 10_000_000), default=0, help="keep the k most probable tokens (0: off)")
    p.add_argument("--top-p", type=float_flag(0.0, 1.0, lo_open=True), default=1.0,
                   help="nucleus: keep the top tokens with this mass (1: off)")
    p.add_argument("--seed", type=seed_flag, default=None)
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
