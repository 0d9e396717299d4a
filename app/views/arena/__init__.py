"""The Arena view (engine.rl): boards for tic-tac-toe, Connect Four and backgammon, agents' values, training."""

from app.views.arena.view import ArenaView

__all__ = ["ArenaView"]
