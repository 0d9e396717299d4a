"""Shared pieces of the ``txe`` command line, so every subcommand behaves the same.

A subcommand module exposes ``register(subparsers)``; each parser it adds is created with
``parents=[common_parent()]`` and ``set_defaults(func=...)`` where ``func(args) -> dict`` does the work
and returns the JSON result. ``engine.cli.main`` prints it (``--json``: exactly one JSON object as the
last stdout line) and turns :class:`engine.errors.UserError` into one stderr line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

from engine.validate import threads_flag

T = TypeVar("T")


def common_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    p.add_argument("--threads", type=threads_flag, default=0, help="torch CPU threads (0: torch's default)")
    return p


def progress(iterable: Iterable[T] | None = None, total: int | None = None, desc: str = "") -> tqdm:
    """A tqdm bar on stderr, shown only when stderr is a terminal (never pollutes JSON or logs)."""
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, disable=not sys.stderr.isatty(),
                dynamic_ncols=True, leave=False)


def iterate_with_progress(items: Iterable[T], total: int | None, desc: str) -> Iterator[T]:
    bar = progress(total=total, desc=desc)
    try:
        for item in items:
            bar.update(1)
            yield item
    finally:
        bar.close()
