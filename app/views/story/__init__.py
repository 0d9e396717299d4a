"""The story view ("RNN vs attention"): exact match against source length for an RNN encoder-decoder without
attention, one with attention and a transformer trained for the same time (engine.seq2seq.story)."""

from app.views.story.view import StoryView

__all__ = ["StoryView"]
