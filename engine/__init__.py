"""Transformer Explorer's headless engine: data, tokenizers, models, training, decoding, analysis, RL.

Never imports Qt: the desktop app in ``app/`` wraps this package; the CLI ``txe`` drives it directly.
Importing the package itself runs nothing (``txe`` must be able to catch a Ctrl-C from its first instant).
"""

__all__ = ["UserError"]


def __getattr__(name: str) -> object:
    if name == "UserError":
        from engine.errors import UserError

        return UserError
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
