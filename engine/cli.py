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

from engine.errors import UserError

# Modules that add subcommands; each exposes register(subparsers).
COMMAND_MODULES = [
    "engine.commands",
]
OPTIONAL_COMMAND_MODULES = [
    "engine.rl.cli",
    "engine.embeddings.cli",
    "engine.decoding.cli",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own code for usage errors)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
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


def _print_human(result: dict[str, Any]) -> None:
    for key, value in result.items():
        if isinstance(value, list | dict) and len(json.dumps(value)) > 200:
            value = json.dumps(value)[:200] + "..."
        print(f"{key}: {value}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "threads", 0):
        import torch

        torch.set_num_threads(args.threads)
    try:
        result = args.func(args)
    except UserError as e:
        sys.stderr.write(f"txe {args.command}: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"txe {args.command}: interrupted\n")
        return 130
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        _print_human(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
