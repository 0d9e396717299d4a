"""How tokens are written on the screen: invisible characters made visible."""

from __future__ import annotations


def shown_token(tok: str) -> str:
    """A token with a newline or a lone space made visible (the arrow and the open box)."""
    return tok.replace("\n", "\u21b5").replace(" ", "\u2423") if tok.strip() == "" or "\n" in tok else tok


def plural(n: int, noun: str) -> str:
    """"1 question", "2 questions", "1,024 tokens"."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
