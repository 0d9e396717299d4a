"""What every agent offers the arena, the trainers and a view, plus saving and loading."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from engine import files
from engine.errors import UserError
from engine.files import WriteFailed, reason
from engine.rl.game import State

FORMAT_VERSION = 1
MAX_AGENT_BYTES = 256 * 2**20


class Agent:
    """Chooses moves. ``action_values`` and ``win_probability`` are what a view can display."""

    name = "agent"
    games: tuple[str, ...] = ()  # empty: any game

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)

    def seed(self, seed: int) -> None:
        self.rng.seed(seed)

    def step(self, state: State) -> int:
        raise NotImplementedError

    def action_values(self, state: State) -> dict[int, float]:
        """Value of each legal action for the player to move, in [-1, 1] where meaningful ({} if not)."""
        return {}

    def win_probability(self, state: State) -> float | None:
        """Probability that the player to move wins, for agents with a value estimate."""
        return None

    def describe(self) -> str:
        return self.name

    def _argmax(self, values: dict[int, float]) -> int:
        best = max(values.values())
        return self.rng.choice([a for a, v in values.items() if v >= best - 1e-9])


class SearchAgent(Agent):
    """An agent that searches a tree from the current state and plays the most visited move.

    ``search`` fills ``last_visits`` (N per legal move) and ``last_values`` (mean value per move, in
    [-1, 1] for the player to move); views show both."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self.last_visits: dict[int, int] = {}
        self.last_values: dict[int, float] = {}

    def search(self, state: State) -> dict[int, int]:
        raise NotImplementedError

    def step(self, state: State) -> int:
        legal = state.legal_actions()
        if len(legal) == 1:
            return legal[0]
        visits = self.search(state)
        best = max(visits.values())
        return self.rng.choice([a for a, n in visits.items() if n == best])

    def action_values(self, state: State) -> dict[int, float]:
        self.search(state)
        return dict(self.last_values)


class RandomAgent(Agent):
    name = "random"

    def step(self, state: State) -> int:
        return self.rng.choice(state.legal_actions())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder and os.replace, so a crash never leaves half a file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteFailed(f"could not create the folder {path.parent} ({reason(e)})") from None
    files.atomic_write_bytes(path, data, f"the agent file {path}")


def save_json_agent(path: Path, header: dict[str, Any], payload: dict[str, Any]) -> None:
    atomic_write_bytes(path, json.dumps({"format": "txe-agent", "version": FORMAT_VERSION, **header,
                                         **payload}).encode())


def save_tensor_agent(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save

    meta = {"format": "txe-agent", "version": str(FORMAT_VERSION), "header": json.dumps(header)}
    data = save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}, metadata=meta)
    atomic_write_bytes(path, data)


def read_agent_file(path: Path) -> tuple[dict[str, Any], dict[str, Any] | dict[str, np.ndarray]]:
    """(header, payload) of a saved agent; any damage becomes a UserError. Tensors are checked to be
    finite numbers; each agent kind checks its own header fields and shapes."""
    path = Path(path)
    if path.is_dir():
        for name in ("agent.safetensors", "agent.json"):
            if (path / name).exists():
                path = path / name
                break
        else:
            raise UserError(f"No saved agent (agent.json or agent.safetensors) in {path}.")
    if not path.is_file():
        raise UserError(f"Agent file {path} does not exist.")
    if path.stat().st_size > MAX_AGENT_BYTES:
        raise UserError(f"{path} is {path.stat().st_size / 2**20:,.0f} MiB, too large to be a saved agent.")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserError(f"Agent file {path} cannot be read ({e.strerror}).") from None
    if raw[:1] == b"{":
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise UserError(f"Agent file {path} is damaged (not valid JSON).") from None
        if not isinstance(data, dict) or data.get("format") != "txe-agent" or "game" not in data:
            raise UserError(f"{path} is not a saved agent.")
        return data, data
    try:
        from safetensors import safe_open
        from safetensors.numpy import load

        arrays = load(raw)
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
        header = json.loads(meta["header"])
    except Exception:  # safetensors raises several types for damaged files
        raise UserError(f"Agent file {path} is damaged or not a saved agent.") from None
    if meta.get("format") != "txe-agent" or not isinstance(header, dict) or "game" not in header:
        raise UserError(f"{path} is not a saved agent.")
    for name, a in arrays.items():
        if a.dtype.kind != "f" or not np.isfinite(a).all():
            raise UserError(f"Agent file {path}: tensor {name[:40]} holds NaN, infinite or non-float values.")
    return header, arrays
