"""The Fill-the-blank view: a masked language model fills [MASK]s, and GPT vs BERT at one position shows the
next-token and the masked objective side by side (engine.mlm, engine.gptbert)."""

from app.views.fillmask.view import FillMaskView

__all__ = ["FillMaskView"]
