"""Which layers or heads to show, as the user types them: "all", "3", "0-5", "0-3, 7, 10-11"."""

from __future__ import annotations


def parse_indices(text: str, n: int) -> list[int]:
    """The indices below ``n`` that ``text`` names, in order, once each; ValueError with a plain message for
    anything else."""
    text = text.strip().lower()
    if text in ("", "all", "*"):
        return list(range(n))
    out: list[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ValueError(f"{part!r} is not a number or a range like 0-5") from None
        if a > b:
            a, b = b, a
        if a < 0 or b >= n:
            raise ValueError(f"{part!r} is outside 0-{n - 1}")
        out.extend(i for i in range(a, b + 1) if i not in out)
    if not out:
        raise ValueError("name at least one, e.g. 0-3 or all")
    return out
