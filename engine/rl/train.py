"""Training loops as plain generators of events (engine.events), pausable and stoppable through a CancelToken.

The CLI iterates :func:`train` in a for loop; the GUI runs the same generator in its engine thread and
plots what it yields: Progress (step = games this run; metrics: games, games_per_s, td_error, epsilon,
and what the algorithm reports per game), Evaluation (step = games the agent has trained; metrics: per
reference opponent a dict of win / draw / loss / score, ``best`` when it is the best agent so far), Saved
(the agent file) and one Finished (summary: see :func:`train`). The game's facts (algorithms, their
default settings, reference opponents) are its ``GameInfo``. The agent is saved into ``out`` at every
evaluation and at the end (atomically), so a stopped run resumes with ``resume=True``; the agent that
scored best against the strongest reference opponent is also kept, as ``best-agent.*``. Each evaluation
and the summary are also appended to ``out/stats.jsonl`` as they happen (``kind`` "eval" / "done").

Every evaluation also keeps a copy of the agent as it was then, ``out/checkpoints/agent-000020000.json``
(named by the games it has trained, nine digits so the names sort), listed in its stats.jsonl record as
``checkpoint``; a resumed run adds to them, an overwritten one starts without them. They are what the
strength ladder (engine.rl.ladder) rates: :func:`list_checkpoints` gives a run's in order. A run keeps at
most ``keep_checkpoints`` (100): past that, only every second one stays (and the newest), so a long run
with frequent evaluations keeps checkpoints evenly spread over all of it (:func:`thin_checkpoints`).
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.errors import RunExists, UserError
from engine.events import Evaluation, Event, Finished, Progress, Saved
from engine.files import atomic_write_text, check_output, check_writable_folder, remove_leftovers
from engine.rl.agents.base import Agent
from engine.rl.arena import evaluate
from engine.rl.control import CancelToken
from engine.rl.game import get_game
from engine.rl.registry import load_agent, make_agent

# learning settings a resumed run may change; the network's shape (hidden) comes from the saved agent
RESUMABLE_HP = ("lr", "lam", "gamma")
CHECKPOINTS = "checkpoints"  # the folder of a run that keeps the agent of every evaluation
_CHECKPOINT = re.compile(r"(?P<stem>[A-Za-z_]+)-(?P<games>\d{9,})(?P<suffix>\.json|\.safetensors)")


@dataclass(frozen=True)
class Checkpoint:
    """One kept agent of a run: the games it had trained and its file."""

    games: int
    path: Path


def checkpoint_path(out: str | Path, agent_file: str, games: int) -> Path:
    """Where a run in ``out`` keeps its agent after ``games`` training games (e.g. checkpoints/agent-000020000.json)."""
    name = Path(agent_file)
    return Path(out) / CHECKPOINTS / f"{name.stem}-{games:09d}{name.suffix}"


def list_checkpoints(run: str | Path) -> list[Checkpoint]:
    """The checkpoints of the run in folder ``run`` (or of the ``checkpoints`` folder itself), fewest games
    first; an empty list when there are none. Temporary files of an interrupted write are not listed."""
    folder = Path(run)
    if folder.name != CHECKPOINTS and (folder / CHECKPOINTS).is_dir():
        folder = folder / CHECKPOINTS
    try:
        entries = list(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        return []
    found = []
    for p in entries:
        m = _CHECKPOINT.fullmatch(p.name)
        if m and p.is_file():
            found.append(Checkpoint(int(m.group("games")), p))
    return sorted(found, key=lambda c: (c.games, c.path.name))


def _new_agent(game: str, algo: str, hp: dict[str, Any], seed: int) -> Agent:
    if algo in ("q", "sarsa"):
        from engine.rl.agents.tabular import TabularAgent

        return TabularAgent(algo, hp["lr"], hp["gamma"], seed=seed)
    if algo == "td":
        from engine.rl.agents.td import TDAgent, with_gammons

        outputs = int(hp.get("outputs", 1))
        if hp.get("init"):  # warm start: a saved agent's network (widened to 5 outputs if asked)
            init = make_agent(str(hp["init"]), game, seed=seed)
            if not isinstance(init, TDAgent):
                raise UserError(f"--init {hp['init']} is not a TD agent.")
            agent = with_gammons(init, seed) if outputs == 5 and init.outputs == 1 else init
            if agent.outputs != outputs:
                raise UserError(f"--init {hp['init']} has {agent.outputs} outputs, not {outputs}.")
            agent.lr, agent.lam, agent.plies = hp["lr"], hp["lam"], 1  # training and its evaluations: 1-ply
            agent.epsilon = hp.get("epsilon_start", 0.0)
            return agent
        return TDAgent(game, hp["hidden"], hp["lr"], hp["lam"], hp.get("epsilon_start", 0.0), seed=seed,
                       outputs=outputs)
    from engine.rl.agents.alphazero import AlphaZeroAgent

    return AlphaZeroAgent(hidden=hp["hidden"], sims=hp["eval_sims"], seed=seed)


def epsilon_at(i: int, total: int, start: float, end: float) -> float:
    """Linear decay from ``start`` to ``end`` over the first 80% of the games, then constant."""
    frac = min(1.0, i / max(1.0, 0.8 * total))
    return start + (end - start) * frac


def train(game_name: str, algo: str, *, games: int | None = None, minutes: float | None = None,
          out: str | Path | None = None, token: CancelToken | None = None, seed: int = 0,
          resume: bool = False, report_every_s: float = 1.0, threads: int = 1, overwrite: bool = False,
          keep_checkpoints: int = 100, **overrides: Any) -> Iterator[Event]:
    """Train ``algo`` on ``game_name``; yields events (see the module docstring).

    An ``out`` folder that already holds an agent is continued with ``resume`` and replaced with
    ``overwrite``; with neither, :class:`engine.errors.RunExists` is raised before any game is played.
    """
    game = get_game(game_name)
    info = game.info
    if algo not in info.algorithms:
        raise UserError(f"For {game.name} choose --algo {' or '.join(info.algorithms)}, not {algo}.")
    hp = dict(info.training[algo])
    hp.update({k: v for k, v in overrides.items() if v is not None})
    if games is None and minutes is None:
        games = int(hp["games"])
    if games is not None and games < 1:
        raise UserError("--games must be at least 1.")
    if minutes is not None and minutes <= 0:
        raise UserError("--minutes must be positive.")
    total = games if games is not None else 10**12
    if threads:
        torch.set_num_threads(threads)  # the machine is shared: one core unless asked otherwise
    out_dir = Path(out) if out else None
    agent_path = out_dir / info.agent_file if out_dir else None
    stats_lines: list[str] = []
    if out_dir is not None and agent_path is not None:
        stats_lines = _prepare_out(out_dir, agent_path, resume, overwrite)
    if resume and agent_path and agent_path.exists():
        agent = load_agent(agent_path, game.name)
        if getattr(agent, "algo", algo) != algo and algo in ("q", "sarsa"):
            raise UserError(f"{agent_path} was trained with {agent.algo}, not {algo}.")
        for key in RESUMABLE_HP:  # a rate given for the continued run (e.g. a smaller eta) takes effect
            if overrides.get(key) is not None and hasattr(agent, key):
                setattr(agent, key, overrides[key])
    else:
        agent = _new_agent(game.name, algo, hp, seed)
    agent.seed(seed)
    rng = random.Random(seed)
    refs = {name: make_agent(name, game.name, seed=seed + 1) for name in info.references}
    token = token or CancelToken()
    start = time.monotonic()
    deadline = start + minutes * 60 if minutes is not None else None
    played, errors, last_report, last_count = 0, 0.0, start, 0
    eval_every, eval_games = int(hp["eval_every"]), int(hp["eval_games"])
    last_eval: dict[str, Any] | None = None
    stopped = False
    episode = _episode_fn(game.name, algo, agent, hp, rng)

    strongest = info.references[-1]  # the yardstick for "best so far"
    best_path = agent_path.with_name("best-" + agent_path.name) if agent_path is not None else None
    best_score = -1.0

    def evaluation() -> dict[str, Any]:
        nonlocal best_score
        result: dict[str, Any] = {"kind": "eval", "games": agent_games(),
                                  "elapsed_s": time.monotonic() - start, "eval_games": eval_games}
        for name, ref in refs.items():
            r = evaluate(game, agent, ref, eval_games, seed=seed + 1000 + played)
            result[name] = {"win": r["a_wins"] / eval_games, "draw": r["draws"] / eval_games,
                            "loss": r["b_wins"] / eval_games, "score": r["a_score"]}
            if game.name == "backgammon":  # gammons: points per game, not only wins
                result[name]["points"] = r["a_points"]
        agent.seed(seed + played)
        if agent_path is not None and out_dir is not None:
            agent.save(agent_path)  # type: ignore[attr-defined]
            kept = checkpoint_path(out_dir, info.agent_file, result["games"])
            agent.save(kept)  # type: ignore[attr-defined]  # atomic, like every agent file
            result["checkpoint"] = kept.relative_to(out_dir).as_posix()  # relative: the folder may move
            thin_checkpoints(out_dir, keep_checkpoints)
            # self-play strength is noisy from one evaluation to the next: keep the best agent as well
            if best_path is not None and result[strongest]["score"] >= best_score:
                best_score = result[strongest]["score"]
                agent.save(best_path)  # type: ignore[attr-defined]
                result["best"] = True
            log_stats(result)  # at once, so a killed run keeps its learning curve up to its last save
        return result

    def announce(record: dict[str, Any]) -> Iterator[Event]:
        metrics = {k: v for k, v in record.items() if k != "kind"}
        yield Evaluation(int(record["games"]), metrics)
        if agent_path is not None:
            yield Saved(int(record["games"]), str(agent_path))

    def log_stats(record: dict[str, Any]) -> None:
        stats_lines.append(json.dumps(record) + "\n")  # the whole log rewritten atomically: never half a line
        atomic_write_text(out_dir / "stats.jsonl", "".join(stats_lines), "the training log")  # type: ignore[operator]

    def agent_games() -> int:
        return int(getattr(agent, "games_trained", played))

    while played < total and (deadline is None or time.monotonic() < deadline):
        token.wait_if_paused()
        if token.cancelled:
            stopped = True
            break
        eps = epsilon_at(played, total if games is not None else 10**5,
                         float(hp.get("epsilon_start", 0.0)), float(hp.get("epsilon_end", 0.0)))
        step_info = episode(eps)
        played += 1
        errors += step_info.get("td_error", 0.0)
        now = time.monotonic()
        if now - last_report >= report_every_s:
            rate = (played - last_count) / (now - last_report)
            metrics = {"games": agent_games(), "games_per_s": rate,
                       "td_error": errors / max(1, played - last_count), "epsilon": eps, **step_info}
            metrics.pop("td_error_game", None)
            last_report, last_count, errors = now, played, 0.0
            eta = (total - played) / rate if games is not None and rate > 0 else None
            if deadline is not None:
                eta = min(eta, deadline - now) if eta is not None else deadline - now
            yield Progress(played, games, now - start, eta, metrics)
        if played % eval_every == 0:
            last_eval = evaluation()
            yield from announce(last_eval)
    elapsed = time.monotonic() - start
    if last_eval is None or last_eval["games"] != agent_games():  # games played since the last evaluation
        last_eval = evaluation()
        yield from announce(last_eval)
    final = last_eval
    summary = {"kind": "done", "game": game.name, "algo": algo, "games": agent_games(),
               "games_this_run": played,
               "elapsed_s": elapsed, "games_per_s": played / max(elapsed, 1e-9), "stopped": stopped,
               "agent": str(agent_path) if agent_path else None,
               "best_agent": str(best_path) if best_path else None, "best_score": {strongest: best_score},
               "final_eval": final, "hparams": hp}
    if out_dir is not None:
        log_stats(summary)
    summary.pop("kind")
    yield Finished(summary, stopped, str(agent_path) if agent_path else None)


def thin_checkpoints(out: str | Path, most: int) -> list[Path]:
    """Keep at most ``most`` (>= 2) checkpoints of the run in ``out``: those a whole number of strides after
    the first, and the newest, the stride doubling until they are few enough (so they stay evenly spread
    over the run as it grows); returns the files removed."""
    kept = list_checkpoints(out)
    most = max(2, most)
    if len(kept) <= most:
        return []
    base = kept[0].games
    unit = math.gcd(*(c.games - base for c in kept[1:])) or 1
    stride = unit
    while True:
        stay = [c for c in kept[:-1] if (c.games - base) % stride == 0] + [kept[-1]]
        if len(stay) <= most:
            break
        stride *= 2
    removed = [c.path for c in kept if c not in stay]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def run_evaluations(out: str | Path) -> list[dict[str, Any]]:
    """The evaluations logged in ``out/stats.jsonl`` (a finished or a stopped run), oldest first, each with
    ``eval_games`` (from the run's settings for logs that did not record it); unreadable lines are skipped."""
    path = Path(out) / "stats.jsonl"
    try:
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    except OSError:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("games"), int):
            records.append(record)
    settings = next((r.get("hparams") for r in reversed(records) if r.get("kind") == "done"), None) or {}
    evals = [r for r in records if r.get("kind") == "eval"]
    for r in evals:
        r.setdefault("eval_games", settings.get("eval_games"))
    return evals


def _prepare_out(out_dir: Path, agent_path: Path, resume: bool, overwrite: bool) -> list[str]:
    """Check the output folder before any game: an agent there is continued only with ``resume`` and
    replaced only with ``overwrite``; the folder must take files. Returns the training log to continue."""
    if resume and overwrite:
        raise UserError("choose --resume (continue the run) or --overwrite (replace it), not both")
    if not str(out_dir).strip() or "\0" in str(out_dir):
        raise UserError("--out needs a folder name")
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file, not a folder")
    exists = agent_path.exists()
    if exists and not resume and not overwrite:
        raise RunExists(str(out_dir))
    if resume and not exists:
        raise UserError(f"nothing to resume: {out_dir} holds no {agent_path.name}")
    check_writable_folder(out_dir)
    for name in (agent_path.name, "best-" + agent_path.name, "stats.jsonl"):
        check_output(out_dir / name)
        remove_leftovers(out_dir / name)
    if overwrite:  # the replaced run's checkpoints would otherwise join the new run's ladder
        for old in list_checkpoints(out_dir):
            old.path.unlink(missing_ok=True)
    stats = out_dir / "stats.jsonl"
    if resume and stats.is_file():
        text = stats.read_text(encoding="utf-8", errors="replace")
        return [line + "\n" for line in text.splitlines() if line.strip()]
    return []


def _episode_fn(game: str, algo: str, agent: Agent, hp: dict[str, Any], rng: random.Random):
    """One training game per call: returns a small dict (td_error, moves, ...)."""
    if algo in ("q", "sarsa"):
        def tabular(eps: float) -> dict[str, Any]:
            return {"td_error": agent.train_episode(eps)}  # type: ignore[attr-defined]
        return tabular
    if algo == "td":
        g = get_game(game)

        def td(eps: float) -> dict[str, Any]:
            agent.epsilon = eps  # type: ignore[attr-defined]
            winner, err, moves = agent.train_episode(g.new_initial_state())  # type: ignore[attr-defined]
            return {"td_error": err, "moves": moves}
        return td
    from engine.rl.agents.alphazero import SelfPlayTrainer

    trainer = SelfPlayTrainer(agent, hp, rng)  # type: ignore[arg-type]
    return trainer.episode
