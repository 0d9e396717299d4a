"""``txe``: the engine's command line (also ``python -m engine``).

Every subcommand returns a dict; with ``--json`` it is printed as one JSON object on the last stdout
line, otherwise as readable ``key: value`` lines. Bad input prints one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from engine import signals
from engine.errors import UserError
from engine.signals import Interrupted

# Modules that add subcommands; each exposes register(subparsers).
COMMAND_MODULES = [
    "engine.commands",
    "engine.models.cli",
    "engine.mlm_cli",
    "engine.finetune_cli",
    "engine.gradients_cli",
    "engine.seq2seq.cli",
    "engine.interp.cli",
    "engine.interp.icl_cli",
    "engine.rlhf.cli",
]
OPTIONAL_COMMAND_MODULES = [
    "engine.rl.cli",
    "engine.embeddings.cli",
    "engine.decoding.cli",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own code for usage errors)
        sys.stderr.write(" ".join(f"{self.prog}: error: {message}".split()) + "\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="txe", description="Transformer Explorer engine")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for name in OPTIONAL_COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and name.startswith(e.name):
                continue  # that part of the engine is not in this build
            raise
        module.register(sub)
    return parser


def _print_human(result: dict[str, Any] | list[dict[str, Any]]) -> None:
    if isinstance(result, list):  # a table: one line per item
        for item in result:
            print("  ".join(f"{k}={v}" for k, v in item.items()))
        return
    for key, value in result.items():
        if isinstance(value, list | dict) and len(json.dumps(value)) > 200:
            value = json.dumps(value)[:200] + "..."
        print(f"{key}: {value}")


def command_name(args: argparse.Namespace) -> str:
    sub = (getattr(args, "rl_command", None) or getattr(args, "seq2seq_command", None)
           or getattr(args, "icl_command", None))
    return f"txe {args.command} {sub}" if sub else f"txe {args.command}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    name = command_name(args)
    try:
        if getattr(args, "threads", 0):
            import torch

            torch.set_num_threads(args.threads)
        result = args.func(args)
        if result is None:  # a process with nothing to say (a training process other than rank 0)
            return 0
        text = json.dumps(result, ensure_ascii=False) if args.json else None
    except UserError as e:
        _error_line(f"{name}: {e}")
        return 2
    except Interrupted as e:
        _error_line(f"{name}: {e.message or 'interrupted'}")
        return e.exit_code
    except KeyboardInterrupt:
        _error_line(f"{name}: interrupted")
        return 130
    except OSError as e:  # the file system refused a path the user gave (too long, a loop, no permission, ...)
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        _error_line(f"{name}: {e.strerror or type(e).__name__}{where}"[:400])
        return 2
    except MemoryError:
        _error_line(f"{name}: out of memory; try smaller settings")
        return 2
    except Exception as e:
        if signals.received:  # a signal inside a library can surface as another error (an ImportError, ...)
            _error_line(f"{name}: interrupted")
            return 128 + signals.received[0]
        if not isinstance(e, RuntimeError) or not ("can't allocate memory" in str(e) or "not enough memory" in str(e)):
            raise
        _error_line(f"{name}: out of memory ({str(e).splitlines()[0][:100]}); try smaller settings")  # from torch
        return 2
    if text is not None:
        print(text)
    else:
        _print_human(result)
    return 0


def _error_line(message: str) -> None:
    """Exactly one line on stderr, whatever the message holds."""
    sys.stderr.write(" ".join(message.split()) + "\n")


if __name__ == "__main__":
    from engine.entry import run

    run()
