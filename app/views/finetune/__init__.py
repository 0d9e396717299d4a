"""The Fine-tuning view: pre-training then fine-tuning on a labelled task, the transfer curve against training
from scratch, a line classified with the tokens that mattered, and sentence similarity (engine.finetune,
engine.similarity)."""

from app.views.finetune.view import FineTuneView

__all__ = ["FineTuneView"]
