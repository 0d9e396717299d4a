"""A training run's live log: what the run does, step by step, in files another process can follow (the app
watching a run started by ``txe train`` or ``torchrun`` on a cluster that writes to a shared folder). The files
are the interface; there is no network protocol of our own.

Beside the checkpoint folder ``OUT`` (which each save replaces whole, atomically), rank 0 keeps ``OUT.live/``:

- ``events.jsonl``: one JSON object per line, appended and flushed at least every FLUSH_S seconds:
  ``{"kind": "start", "config": {...}, "resumed": bool, "step": n}``,
  ``{"kind": "progress", "step", "steps", "seconds", "loss", "lr", "tokens_per_s"}``,
  ``{"kind": "eval", "step", "metrics": {...}}``, ``{"kind": "snapshot", "step", "file"}``,
  ``{"kind": "saved", "step"}``, ``{"kind": "finished", "summary": {...}, "stopped": bool}``;
- ``snapshots/step-NNNNNNNN.npz``: the probe snapshot of that step (the probe text's tokens, attention, scores
  and head scores), each written whole before its line is.

A reader (:class:`LiveReader`) keeps its place in events.jsonl and returns only complete new lines, so it can
poll while the run writes. A run started anew (not resumed) begins a new log.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from engine.errors import UserError
from engine.events import Evaluation, Finished, Progress, Saved, Snapshot
from engine.files import atomic_write

EVENTS = "events.jsonl"
SNAPSHOTS = "snapshots"
FLUSH_S = 0.5  # progress lines reach the file at least this often
MAX_LINE = 1 << 20  # a longer line is not one we wrote: the reader stops there with a message


@dataclass
class RunStart:
    """The first line of a live log: the run's settings, and whether it continues an earlier one."""

    step: int
    config: dict[str, Any]
    resumed: bool


def live_folder(out: str | Path) -> Path:
    """Where the run in checkpoint folder ``out`` keeps its live log (``out.live``); a ``.live`` folder
    given itself is its own."""
    out = Path(out)
    return out if out.name.endswith(".live") else out.with_name(out.name + ".live")


class LiveLog:
    """Rank 0's writer of a run's live log (see the module docstring)."""

    def __init__(self, out: str | Path, config: dict[str, Any], resumed: bool, step: int) -> None:
        self.folder = live_folder(out)
        if not resumed and self.folder.exists():
            shutil.rmtree(self.folder)  # a new run: the last run's log is not its history
        (self.folder / SNAPSHOTS).mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(self.folder / EVENTS, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        self._flushed = 0.0
        self.write({"kind": "start", "config": config, "resumed": resumed, "step": step}, flush=True)

    def write(self, record: dict[str, Any], flush: bool = False) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        now = time.monotonic()
        if flush or now - self._flushed >= FLUSH_S:
            self._file.flush()
            self._flushed = now

    def event(self, e: Any, steps: int) -> None:
        """Log an engine event of the Trainer (Progress, Evaluation, Snapshot, Saved, Finished)."""
        if isinstance(e, Progress):
            m = e.metrics
            self.write({"kind": "progress", "step": e.step, "steps": steps, "seconds": round(e.elapsed, 4),
                        "loss": m.get("loss"), "lr": m.get("lr"), "tokens_per_s": m.get("tokens_per_s")})
        elif isinstance(e, Evaluation):
            self.write({"kind": "eval", "step": e.step, "metrics": e.metrics}, flush=True)
        elif isinstance(e, Snapshot):
            name = f"{SNAPSHOTS}/step-{e.step:08d}.npz"
            atomic_write(self.folder / name, lambda f: f.write(snapshot_bytes(e.data)), "a probe snapshot")
            self.write({"kind": "snapshot", "step": e.step, "file": name}, flush=True)
        elif isinstance(e, Saved):
            self.write({"kind": "saved", "step": e.step}, flush=True)
        elif isinstance(e, Finished):
            self.write({"kind": "finished", "summary": e.summary, "stopped": e.stopped}, flush=True)

    def close(self) -> None:
        self._file.close()


def snapshot_bytes(probe: Any) -> bytes:
    """An AttentionProbe (engine.training) as an .npz file's bytes."""
    arrays = {"text": np.array(probe.text), "tokens": np.array(probe.tokens), "attention": probe.attention,
              "scores": probe.scores}
    for name, m in (probe.head_scores or {}).items():
        arrays[f"head_{name}"] = m
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def read_snapshot(path: Path) -> Any:
    """The AttentionProbe a snapshot file holds."""
    from engine.training import AttentionProbe

    try:
        with np.load(path, allow_pickle=False) as z:
            heads = {k[len("head_"):]: z[k] for k in z.files if k.startswith("head_")}
            return AttentionProbe(str(z["text"]), [str(t) for t in z["tokens"]], z["attention"], z["scores"],
                                  heads or None)
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"the snapshot {path.name} cannot be read ({str(e)[:80]})") from None


@dataclass
class LiveReader:
    """Follows a live log: each :meth:`poll` returns the engine events of the lines written since the last."""

    folder: Path
    offset: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    steps: int = 0
    finished: bool = False

    @classmethod
    def open(cls, run: str | Path) -> LiveReader:
        folder = live_folder(run)
        if not (folder / EVENTS).is_file():
            raise UserError(f"{Path(run)} has no live log ({folder.name}/{EVENTS}): a run writes one while it "
                            "trains with --out (txe train, torchrun or the app)")
        return cls(folder)

    def poll(self, max_bytes: int = 16 << 20) -> list[Any]:
        """The events of the complete lines written since the last poll (at most ``max_bytes`` of them)."""
        try:
            with open(self.folder / EVENTS, "rb") as f:
                f.seek(self.offset)
                chunk = f.read(max_bytes)
        except OSError as e:
            raise UserError(f"the run's live log cannot be read ({e.strerror or e})") from None
        end = chunk.rfind(b"\n")
        if end < 0:
            if len(chunk) >= MAX_LINE:
                raise UserError(f"{EVENTS} has a line longer than {MAX_LINE:,} bytes: not a live log")
            return []
        self.offset += end + 1
        out: list[Any] = []
        for line in chunk[:end].splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn or foreign line: the next ones still count
            if isinstance(record, dict):
                event = self._event(record)
                if event is not None:
                    out.append(event)
        return out

    def _event(self, r: dict[str, Any]) -> Any:
        kind, step = r.get("kind"), r.get("step", 0)
        if not isinstance(step, int):
            return None
        if kind == "start":
            self.config = r.get("config") if isinstance(r.get("config"), dict) else {}
            self.steps = int(self.config.get("steps", 0) or 0)
            self.finished = False
            return RunStart(step, self.config, bool(r.get("resumed")))
        if kind == "progress":
            metrics = {k: float(r[k]) for k in ("loss", "lr", "tokens_per_s") if isinstance(r.get(k), int | float)}
            steps = r.get("steps") if isinstance(r.get("steps"), int) else self.steps
            return Progress(step, steps or None, float(r.get("seconds") or 0.0), None, metrics)
        if kind == "eval" and isinstance(r.get("metrics"), dict):
            return Evaluation(step, r["metrics"])
        if kind == "snapshot" and isinstance(r.get("file"), str):
            path = (self.folder / r["file"]).resolve()
            if self.folder.resolve() not in path.parents:
                return None  # a path out of the live folder is not one we wrote
            try:
                return Snapshot(step, read_snapshot(path))
            except UserError:
                return None  # removed meanwhile (a new run began): skip it
        if kind == "saved":
            return Saved(step, str(self.folder.with_name(self.folder.name[:-len(".live")])))
        if kind == "finished":
            self.finished = True
            summary = r.get("summary") if isinstance(r.get("summary"), dict) else {}
            return Finished(summary, bool(r.get("stopped")))
        return None
