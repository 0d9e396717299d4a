"""Transformer Explorer's headless engine: data, tokenizers, models, training, decoding, analysis, RL.

Never imports Qt: the desktop app in ``app/`` wraps this package; the CLI ``txe`` drives it directly.
"""

from engine.errors import UserError

__all__ = ["UserError"]
