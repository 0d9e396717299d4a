"""The Tokens view: a text split by a tokenizer, and the vocabulary with its corpus counts."""

from app.views.tokens.view import TokensView

__all__ = ["TokensView"]
