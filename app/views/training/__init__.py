"""The Training view: a run of the transformer, its form, controls and live curves."""

from app.views.training.view import TrainingView

__all__ = ["TrainingView"]
