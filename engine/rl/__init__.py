"""Headless game-playing part of the engine: games, agents, training, matches (no Qt here)."""
