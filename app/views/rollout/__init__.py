"""The Rollout view: attention rollout and flow across the layers (issue 15)."""

from app.views.rollout.view import RolloutView

__all__ = ["RolloutView"]
