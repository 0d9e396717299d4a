"""The Logit lens view: the residual stream after every layer, read as a prediction (issue 15)."""

from app.views.lens.view import LogitLensView

__all__ = ["LogitLensView"]
