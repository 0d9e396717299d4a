"""Pause / resume / cancel for RL training generators: the engine-wide token (engine.tasks)."""

from engine.tasks import Cancelled, CancelToken

__all__ = ["Cancelled", "CancelToken"]
