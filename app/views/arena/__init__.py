"""The Arena view (issue 6): boards for tic-tac-toe, Connect Four and backgammon, agents' values, training."""

from app.views.arena.view import ArenaView

__all__ = ["ArenaView"]
