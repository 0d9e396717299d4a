"""The Translation view: an encoder-decoder's alignment (per layer and head for the transformer), its beam tree
and n-best list, and training a translator live (engine.seq2seq)."""

from app.views.translation.view import TranslationView

__all__ = ["TranslationView"]
