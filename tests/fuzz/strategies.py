"""Hypothesis strategies for the fuzz suite: hostile and ordinary values for every flag, paths of every
kind, and mutations of the JSON, safetensors and torch files the engine reads."""

from __future__ import annotations

import json
import math
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("TXE_FUZZ_EXAMPLES", "0"))


def fuzz_settings(quick: int):  # noqa: ANN201
    """``quick`` examples in the normal run (fixed seed), ``TXE_FUZZ_EXAMPLES`` when set (random seed)."""
    return settings(max_examples=EXAMPLES or quick, derandomize=not EXAMPLES, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


# numbers a user might type, or mistype
HOSTILE_NUMBERS = [
    "-1", "0", "-0", "1e309", "nan", "NaN", "inf", "-inf", "Infinity", "1e23", "99999999999999999999999", "16.0",
    "0x10", "", " ", "1_000", "\u0663", "true", "None", "[]", "1e-400", "-1e-9", "4294967296", "2147483648",
    "9223372036854775808", "1" * 5000, "1.5", "+3", "--5", "3 ", "\u00e9", "1e5", "0.0", "-0.0", "1,5", "\x00",
]


def whole_numbers(lo: int, hi: int, limit: int, work: bool = False,
                  refused: tuple[int, ...] = ()) -> st.SearchStrategy[str]:
    """Cheap valid values (at most ``limit``), values just out of range, hostile text and any integer.
    ``work``: the flag sets an amount of work (steps, games, layers...), so valid values above ``limit`` are
    never drawn (they are legitimate long jobs, not hostile input); ``refused`` are valid-looking values the
    engine must refuse (a model too large for memory)."""
    outside = st.one_of(st.integers(max_value=lo - 1), st.integers(min_value=hi + 1))
    anything = outside if work else st.integers()
    ends = [str(lo), str(lo - 1), str(hi + 1)] + ([] if work else [str(hi)])
    return st.one_of(st.integers(lo, min(hi, limit)).map(str), st.sampled_from(ends + [str(r) for r in refused]),
                     st.sampled_from(HOSTILE_NUMBERS), anything.map(str))


def real_numbers(lo: float, hi: float, work_limit: float | None = None) -> st.SearchStrategy[str]:
    """Valid values in [lo, hi], hostile text, and any float (only those out of range or below ``work_limit``
    when the value sets an amount of work)."""
    anything = st.floats(allow_nan=True, allow_infinity=True)
    if work_limit is not None:
        anything = anything.filter(lambda x: not (lo <= x <= hi) or x <= work_limit)
    return st.one_of(st.floats(lo, hi if work_limit is None else min(hi, work_limit)).map(repr), anything.map(repr),
                     st.sampled_from(HOSTILE_NUMBERS))


def words(*options: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(options), st.sampled_from(["", " ", "x", "\u2603", "A" * 300]))


texts = st.text(max_size=60)


def flags(spec: dict[str, st.SearchStrategy[str] | None], most: int = 4) -> st.SearchStrategy[list[str]]:
    """Some of the flags in ``spec`` (None: a switch without a value), each with a drawn value."""
    names = sorted(spec)

    def build(chosen: list[str]) -> st.SearchStrategy[list[str]]:
        parts = [st.just([n]) if spec[n] is None else spec[n].map(lambda v, n=n: [n, v]) for n in chosen]
        return st.tuples(*parts).map(lambda groups: [x for g in groups for x in g])

    return st.lists(st.sampled_from(names), max_size=most, unique=True).flatmap(build)


# --- mutations of parsed files -------------------------------------------------------------------

HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2**31, 2**63, 2**64 + 1, 10**30, -(10**30), 16.0, 0.5, -0.5, 1e308, math.nan,
    math.inf, -math.inf, "", "x", "16", "nan", "\u2603" * 3, [], [1, 2], [None], {}, {"a": 1}, [[[[[]]]]],
    "A" * 10000, 8192, 48, 65536, 10**9,
]


def paths_in(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys and indices) into a JSON-like tree, the root included."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths_in(v, prefix + (k,))
    elif isinstance(obj, list) and len(obj) <= 50:
        for i, v in enumerate(obj):
            out += paths_in(v, prefix + (i,))
    return out


def replaced(obj: Any, path: tuple, value: Any, delete: bool = False) -> Any:
    """A copy of ``obj`` with the node at ``path`` replaced (or deleted)."""
    if not path:
        return value
    copy = list(obj) if isinstance(obj, list) else dict(obj)
    key = path[0]
    if len(path) == 1 and delete:
        del copy[key]
    else:
        copy[key] = replaced(obj[key], path[1:], value, delete)
    return copy


@st.composite
def mutated_json(draw, original: Any) -> bytes:
    """``original`` with one node replaced by a hostile value or deleted, its text cut short, or bytes flipped."""
    kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "truncate", "flip", "nest"]))
    text = json.dumps(original).encode()
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    if kind == "flip":
        data = bytearray(text)
        for _ in range(draw(st.integers(1, 5))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "nest":
        return b"[" * 100_000 + b"]" * 100_000
    path = draw(st.sampled_from(paths_in(original)))
    if kind == "delete" and path:
        return json.dumps(replaced(original, path, None, delete=True)).encode()
    value = draw(st.one_of(st.sampled_from(HOSTILE_VALUES), st.integers(), st.floats(), st.text(max_size=20)))
    return json.dumps(replaced(original, path, value)).encode()


def mutated_bytes(original: bytes) -> st.SearchStrategy[bytes]:
    """Truncations, byte flips and junk for binary files."""
    n = len(original)

    @st.composite
    def build(draw) -> bytes:
        kind = draw(st.sampled_from(["truncate", "flip", "junk", "empty"]))
        if kind == "truncate":
            return original[: draw(st.integers(0, n - 1))]
        if kind == "junk":
            return draw(st.binary(max_size=2000))
        if kind == "empty":
            return b""
        data = bytearray(original)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, min(n - 1, 4096)))  # the header is where the damage matters
            data[i] = draw(st.integers(0, 255))
        return bytes(data)

    return build()
