"""The Ablation view: switch heads off and see what the model then predicts (issue 15)."""

from app.views.ablation.view import AblationView

__all__ = ["AblationView"]
