"""The Decoding view: beam search as the tree it searched, and sampling (engine.decoding)."""

from app.views.decoding.view import DecodingView

__all__ = ["DecodingView"]
