"""The Head scores view: each head's score over training and where the induction heads appear (issue 15)."""

from app.views.heads.view import HeadScoresView

__all__ = ["HeadScoresView"]
