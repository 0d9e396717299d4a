"""One validation layer for every number and choice that comes from a flag or a file.

Each checker takes the raw value (a command-line string, or whatever ``json.loads`` / a safetensors
header gave) and returns it as the right Python type, or raises :class:`UserError` with one sentence
that names the field and the allowed range. The same rules serve both sides:

- command-line flags: :func:`int_flag`, :func:`float_flag` and :func:`seed_flag` make argparse ``type=``
  functions (argparse turns their error into its usual one line, exit 2);
- files: :func:`parse_json` reads the text, then :func:`whole`, :func:`real`, :func:`flag_bool`, :func:`choice`,
  :func:`text`, :func:`mapping` check one field of the parsed file, ``where`` naming the file.

What is refused: bools where numbers are meant (JSON ``true`` is not 1), floats where whole numbers
are meant (``16.0``, ``1e23``), NaN and infinities, and anything outside its range. Memory that a
setting implies is checked separately against :func:`memory_budget` before anything is allocated.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
from collections.abc import Callable, Sequence
from typing import Any

from engine.errors import UserError

MAX_SEED = 2**32 - 1
_INT_TEXT = re.compile(r"[+-]?[0-9]+")


def _field(name: str, where: str) -> str:
    return f"{where}: {name}" if where else name


def _range_text(lo: float | None, hi: float | None, whole_number: bool) -> str:
    fmt = (lambda v: f"{int(v):,}") if whole_number else (lambda v: f"{v:g}")
    if lo is not None and hi is not None:
        return f"from {fmt(lo)} to {fmt(hi)}"
    if lo is not None:
        return f"{fmt(lo)} or more"
    if hi is not None:
        return f"at most {fmt(hi)}"
    return "any value"


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def whole(value: Any, name: str, lo: int | None = None, hi: int | None = None, where: str = "") -> int:
    """A whole number in [lo, hi]; ``True``, ``16.0`` and ``"16"`` are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{_field(name, where)} must be a whole number {_range_text(lo, hi, True)} "
                        f"(got {shown(value)})")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise UserError(f"{_field(name, where)} must be {_range_text(lo, hi, True)} (got {shown(value)})")
    return value


def real(value: Any, name: str, lo: float | None = None, hi: float | None = None, where: str = "",
         lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite number in [lo, hi] (open ends when asked); ints are fine, bools and NaN are not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{_field(name, where)} must be a number (got {shown(value)})")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond any float
        value = math.inf
    low_ok = lo is None or (value > lo if lo_open else value >= lo)
    high_ok = hi is None or (value < hi if hi_open else value <= hi)
    if not math.isfinite(value) or not (low_ok and high_ok):
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        span = f"in {left}{lo:g}, {hi:g}{right}" if lo is not None and hi is not None else \
            _range_text(lo, hi, False)
        raise UserError(f"{_field(name, where)} must be a finite number {span} (got {shown(value)})")
    return value


def flag_bool(value: Any, name: str, where: str = "") -> bool:
    if not isinstance(value, bool):
        raise UserError(f"{_field(name, where)} must be true or false (got {shown(value)})")
    return value


def choice(value: Any, name: str, options: Sequence[str], where: str = "") -> str:
    if not isinstance(value, str) or value not in options:
        raise UserError(f"{_field(name, where)} must be one of {', '.join(options)} (got {shown(value)})")
    return value


def text(value: Any, name: str, where: str = "", max_length: int = 10_000) -> str:
    if not isinstance(value, str) or len(value) > max_length:
        raise UserError(f"{_field(name, where)} must be a text of at most {max_length:,} characters "
                        f"(got {shown(value)})")
    return value


def mapping(value: Any, name: str, where: str = "") -> dict:
    if not isinstance(value, dict):
        raise UserError(f"{_field(name, where)} must be a JSON object (got {type(value).__name__})")
    return value


def number_list(value: Any, name: str, where: str = "", allow_nan: bool = False, whole_numbers: bool = False,
                max_length: int = 10**8) -> list:
    """A list of finite numbers (NaN allowed where a measurement may be missing)."""
    if not isinstance(value, list) or len(value) > max_length:
        raise UserError(f"{_field(name, where)} must be a list of numbers")
    for x in value:
        bad = isinstance(x, bool) or not isinstance(x, int | float) or (whole_numbers and not isinstance(x, int))
        if not bad and isinstance(x, float) and not math.isfinite(x) and not (allow_nan and math.isnan(x)):
            bad = True
        if bad:
            raise UserError(f"{_field(name, where)} must hold only {'whole ' if whole_numbers else ''}numbers "
                            f"(found {shown(x)})")
    return value


# --- argparse type functions --------------------------------------------------------------------


def parse_whole(raw: str) -> int:
    """Digits only (an optional sign, ``_`` separators): ``16``, not ``16.0`` or ``1e3``."""
    s = raw.strip().replace("_", "")
    if not _INT_TEXT.fullmatch(s) or len(s) > 40:
        raise ValueError(raw)
    return int(s)


def parse_real(raw: str) -> float:
    value = float(raw.strip())  # ValueError for text that is not a number
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def int_flag(lo: int | None, hi: int | None) -> Callable[[str], int]:
    """argparse ``type=``: a whole number in [lo, hi]."""

    def parse(raw: str) -> int:
        try:
            value = parse_whole(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number {_range_text(lo, hi, True)} "
                                             f"(got {shown(raw)})") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {_range_text(lo, hi, True)} (got {raw})")
        return value

    parse.__name__ = "whole number"
    return parse


def float_flag(lo: float | None, hi: float | None, lo_open: bool = False,
               hi_open: bool = False) -> Callable[[str], float]:
    """argparse ``type=``: a finite number in [lo, hi] (open ends when asked)."""

    def parse(raw: str) -> float:
        try:
            return real(parse_real(raw), "value", lo, hi, lo_open=lo_open, hi_open=hi_open)
        except (ValueError, UserError):
            left = "(" if lo_open else "["
            right = ")" if hi_open else "]"
            span = f"in {left}{lo:g}, {hi:g}{right}" if lo is not None and hi is not None else \
                _range_text(lo, hi, False)
            raise argparse.ArgumentTypeError(f"must be a finite number {span} (got {shown(raw)})") from None

    parse.__name__ = "number"
    return parse


seed_flag = int_flag(0, MAX_SEED)
threads_flag = int_flag(0, 256)


# --- memory -------------------------------------------------------------------------------------


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _address_space_left() -> int | None:
    """Bytes this process may still map under RLIMIT_AS (None: no limit)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        used = 0
    return max(0, soft - used)


def memory_budget() -> int:
    """Bytes one piece of engine work may plan to allocate: half the machine's memory, and no more
    than the address space a limit (RLIMIT_AS) leaves."""
    budget = physical_memory() // 2
    left = _address_space_left()
    return budget if left is None else min(budget, left)


def gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**28 else f"{n / 2**20:,.0f} MiB"


def check_memory(needed: float, what: str) -> None:
    """Refuse work that would need more than :func:`memory_budget` bytes, before allocating it."""
    budget = memory_budget()
    if needed > budget:
        raise UserError(f"{what} needs about {gib(needed)} of memory; the limit here is {gib(budget)}")


def parse_json(text: str, refusal: str) -> Any:
    """``json.loads(text)``, or a UserError "<refusal> (not JSON: why)." (or "(nested too deeply).");
    ``refusal`` says what the text is not, e.g. "game.json is not a saved game"."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{refusal} (not JSON: {e.msg}).") from None
    except RecursionError:
        raise UserError(f"{refusal} (nested too deeply).") from None
