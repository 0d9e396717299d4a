"""The Embeddings view: a vocabulary's vectors as a map (engine.embeddings)."""

from app.views.embeddings.view import EmbeddingsView

__all__ = ["EmbeddingsView"]
