"""Training loops as plain generators of statistics dicts, pausable and stoppable through a CancelToken.

The CLI iterates :func:`train` in a for loop; the GUI runs the same generator in its engine thread and
plots what it yields (``kind`` = "progress": games, games/s, TD error, epsilon; "eval": win/draw/loss
against the reference opponents; "done": the final summary). The agent is saved into ``out`` at every
evaluation and at the end (atomically), so a stopped run resumes with ``resume=True``; the agent that
scored best against the strongest reference opponent is also kept, as ``best-agent.*``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from engine.errors import UserError
from engine.rl.agents.base import Agent
from engine.rl.arena import evaluate
from engine.rl.control import CancelToken
from engine.rl.game import get_game
from engine.rl.registry import load_agent, make_agent

ALGOS = {"tictactoe": ("q", "sarsa"), "connect4": ("td", "selfplay"), "backgammon": ("td",)}
REFERENCES = {"tictactoe": ("random", "perfect"), "connect4": ("random", "mcts:200"),
              "backgammon": ("random", "pubeval")}
DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("tictactoe", "q"): {"games": 100_000, "lr": 0.5, "gamma": 0.9, "epsilon_start": 1.0, "epsilon_end": 0.02,
                         "eval_every": 20_000, "eval_games": 200},
    ("tictactoe", "sarsa"): {"games": 100_000, "lr": 0.5, "gamma": 0.9, "epsilon_start": 1.0,
                             "epsilon_end": 0.02, "eval_every": 20_000, "eval_games": 200},
    ("backgammon", "td"): {"games": 20_000, "hidden": 80, "lr": 0.1, "lam": 0.7, "eval_every": 2_000,
                           "eval_games": 200},
    ("connect4", "td"): {"games": 20_000, "hidden": 80, "lr": 0.05, "lam": 0.7, "epsilon_start": 0.1,
                         "epsilon_end": 0.1, "eval_every": 2_000, "eval_games": 40},
    ("connect4", "selfplay"): {"games": 3_000, "sims": 100, "eval_sims": 400, "lr": 1e-3, "hidden": 256,
                               "eval_every": 1_000, "eval_games": 20},
}
AGENT_FILE = {"tictactoe": "agent.json", "connect4": "agent.safetensors", "backgammon": "agent.safetensors"}


# learning settings a resumed run may change; the network's shape (hidden) comes from the saved agent
RESUMABLE_HP = ("lr", "lam", "gamma")


def _new_agent(game: str, algo: str, hp: dict[str, Any], seed: int) -> Agent:
    if algo in ("q", "sarsa"):
        from engine.rl.agents.tabular import TabularAgent

        return TabularAgent(algo, hp["lr"], hp["gamma"], seed=seed)
    if algo == "td":
        from engine.rl.agents.td import TDAgent

        return TDAgent(game, hp["hidden"], hp["lr"], hp["lam"], hp.get("epsilon_start", 0.0), seed=seed)
    from engine.rl.agents.alphazero import AlphaZeroAgent

    return AlphaZeroAgent(hidden=hp["hidden"], sims=hp["eval_sims"], seed=seed)


def epsilon_at(i: int, total: int, start: float, end: float) -> float:
    """Linear decay from ``start`` to ``end`` over the first 80% of the games, then constant."""
    frac = min(1.0, i / max(1.0, 0.8 * total))
    return start + (end - start) * frac


def train(game_name: str, algo: str, *, games: int | None = None, minutes: float | None = None,
          out: str | Path | None = None, token: CancelToken | None = None, seed: int = 0,
          resume: bool = False, report_every_s: float = 1.0, threads: int = 1,
          **overrides: Any) -> Iterator[dict[str, Any]]:
    """Train ``algo`` on ``game_name``; yields statistics dicts (see the module docstring)."""
    game = get_game(game_name)
    if algo not in ALGOS[game.name]:
        raise UserError(f"For {game.name} choose --algo {' or '.join(ALGOS[game.name])}, not {algo}.")
    hp = dict(DEFAULTS[(game.name, algo)])
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
    agent_path = out_dir / AGENT_FILE[game.name] if out_dir else None
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
    refs = {name: make_agent(name, game.name, seed=seed + 1) for name in REFERENCES[game.name]}
    token = token or CancelToken()
    start = time.monotonic()
    deadline = start + minutes * 60 if minutes is not None else None
    played, errors, last_report, last_count = 0, 0.0, start, 0
    eval_every, eval_games = int(hp["eval_every"]), int(hp["eval_games"])
    last_eval: dict[str, Any] | None = None
    stopped = False
    episode = _episode_fn(game.name, algo, agent, hp, rng)

    strongest = REFERENCES[game.name][-1]  # the yardstick for "best so far"
    best_path = agent_path.with_name("best-" + agent_path.name) if agent_path is not None else None
    best_score = -1.0

    def evaluation() -> dict[str, Any]:
        nonlocal best_score
        result: dict[str, Any] = {"kind": "eval", "games": agent_games(),
                                  "elapsed_s": time.monotonic() - start}
        for name, ref in refs.items():
            r = evaluate(game, agent, ref, eval_games, seed=seed + 1000 + played)
            result[name] = {"win": r["a_wins"] / eval_games, "draw": r["draws"] / eval_games,
                            "loss": r["b_wins"] / eval_games, "score": r["a_score"]}
        agent.seed(seed + played)
        if agent_path is not None:
            agent.save(agent_path)  # type: ignore[attr-defined]
            # self-play strength is noisy from one evaluation to the next: keep the best agent as well
            if best_path is not None and result[strongest]["score"] >= best_score:
                best_score = result[strongest]["score"]
                agent.save(best_path)  # type: ignore[attr-defined]
                result["best"] = True
            log_stats(result)  # at once, so a killed run keeps its learning curve up to its last save
        return result

    def log_stats(record: dict[str, Any]) -> None:
        with open(out_dir / "stats.jsonl", "a", encoding="utf-8") as f:  # type: ignore[operator]
            f.write(json.dumps(record) + "\n")

    def agent_games() -> int:
        return int(getattr(agent, "games_trained", played))

    while played < total and (deadline is None or time.monotonic() < deadline):
        token.wait_if_paused()
        if token.cancelled:
            stopped = True
            break
        eps = epsilon_at(played, total if games is not None else 10**5,
                         float(hp.get("epsilon_start", 0.0)), float(hp.get("epsilon_end", 0.0)))
        info = episode(eps)
        played += 1
        errors += info.get("td_error", 0.0)
        now = time.monotonic()
        if now - last_report >= report_every_s:
            stats = {"kind": "progress", "games": agent_games(), "games_this_run": played,
                     "games_per_s": (played - last_count) / (now - last_report), "td_error": errors /
                     max(1, played - last_count), "epsilon": eps, "elapsed_s": now - start, **info}
            stats.pop("td_error_game", None)
            last_report, last_count, errors = now, played, 0.0
            yield stats
        if played % eval_every == 0:
            last_eval = evaluation()
            yield last_eval
    elapsed = time.monotonic() - start
    if last_eval is None or last_eval["games"] != agent_games():  # games played since the last evaluation
        last_eval = evaluation()
        yield last_eval
    final = last_eval
    summary = {"kind": "done", "game": game.name, "algo": algo, "games": agent_games(),
               "games_this_run": played,
               "elapsed_s": elapsed, "games_per_s": played / max(elapsed, 1e-9), "stopped": stopped,
               "agent": str(agent_path) if agent_path else None,
               "best_agent": str(best_path) if best_path else None, "best_score": {strongest: best_score},
               "final_eval": final, "hparams": hp}
    if out_dir is not None:
        log_stats(summary)
    yield summary


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
