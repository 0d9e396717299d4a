"""The Next-token view: p(x_t+1 | prompt) and the prompt's per-token surprisal."""

from app.views.nexttoken.view import NextTokenView

__all__ = ["NextTokenView"]
