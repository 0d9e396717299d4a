"""The Vanishing gradients view: plain RNN, GRU, LSTM and transformer on the long-range recall task."""

from app.views.gradients.view import GradientsView

__all__ = ["GradientsView"]
