"""The Attention view (Eq. 11.13): every layer and head, one enlarged, the head view."""

from app.views.attention.view import AttentionView

__all__ = ["AttentionView"]
