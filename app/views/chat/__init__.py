"""The Chat view: talk to an instruct model, watch the answer stream with each token's probability, and see
which prompt tokens every head attended to when it chose a token (engine.chat)."""

from app.views.chat.view import ChatView

__all__ = ["ChatView"]
