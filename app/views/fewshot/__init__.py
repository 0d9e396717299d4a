"""The Few-shot view: k examples in the prompt, the model's answer, accuracy against k (issue 15)."""

from app.views.fewshot.view import FewShotView

__all__ = ["FewShotView"]
