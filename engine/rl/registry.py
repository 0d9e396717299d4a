"""Turn AGENT strings into agents: random, perfect, mcts:N, alphabeta:D, pubeval, gnubg, default, or a saved file."""

from __future__ import annotations

import re
from pathlib import Path

from engine.errors import UserError
from engine.rl.agents.base import Agent, RandomAgent, read_agent_file
from engine.rl.game import game_info
from engine.rl.limits import MAX_DEPTH, MAX_ROLLOUTS, MAX_SIMS
from engine.validate import parse_whole

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "agents"
AGENT_HELP = ("random, perfect (tic-tac-toe), mcts:N, alphabeta:DEPTH (Connect Four), pubeval or gnubg (backgammon), "
              "default (the shipped agent) or a saved agent's path; a TD backgammon agent takes :1ply or :2ply, "
              "a self-play one :Nsims")
SEARCH_SUFFIX = re.compile(r":(?:([12])ply|(\d{1,9})sims)$", re.IGNORECASE)  # how hard a saved agent searches


def load_agent(path: str | Path, game: str) -> Agent:
    """Load a saved agent (file or training folder); it must be for ``game``."""
    header, payload = read_agent_file(Path(path))
    if header.get("game") != game:
        raise UserError(f"{path} is a {header.get('game')} agent, not a {game} one.")
    algo = header.get("algo")
    if algo in ("q", "sarsa"):
        from engine.rl.agents.tabular import TabularAgent

        return TabularAgent.from_saved(header)
    if algo == "td":
        from engine.rl.agents.td import TDAgent

        return TDAgent.from_saved(header, payload)  # type: ignore[arg-type]
    if algo == "selfplay":
        from engine.rl.agents.alphazero import AlphaZeroAgent

        return AlphaZeroAgent.from_saved(header, payload)  # type: ignore[arg-type]
    raise UserError(f"{path} holds an agent of unknown kind '{algo}'.")


def _exists(path: str) -> bool:
    try:
        return Path(path).exists()
    except (OSError, ValueError):  # a name too long for the file system, or with a NUL byte
        return False


def agent_names(game: str) -> tuple[str, ...]:
    """The agent names :func:`make_agent` accepts for ``game`` (besides a saved agent's path), strongest first."""
    return game_info(game).agents


def _int_arg(spec: str, what: str, most: int) -> int:
    name, _, value = spec.partition(":")
    try:
        n = parse_whole(value)
    except ValueError:
        raise UserError(f"'{spec[:40]}' needs a whole number after '{name}:' ({what}).") from None
    if not 1 <= n <= most:
        raise UserError(f"'{spec[:40]}': the {what} must be from 1 to {most:,}.")
    return n


def make_agent(spec: str, game: str, seed: int | None = None) -> Agent:
    """The agent named by ``spec`` for ``game``; a UserError for anything unusable."""
    from engine.rl.agents.pubeval import PubEvalAgent
    from engine.rl.agents.search import AlphaBetaConnectFour, MCTSAgent, PerfectTicTacToe

    s = spec.strip()
    search = SEARCH_SUFFIX.search(s)
    plies = sims = None
    if search:
        plies, sims = (int(g) if g else None for g in search.groups())
        s = s[: search.start()]
    low = s.lower()
    agent: Agent
    if low == "random":
        agent = RandomAgent(seed)
    elif low == "perfect":
        agent = PerfectTicTacToe(seed)
    elif low == "pubeval":
        agent = PubEvalAgent(seed)
    elif low == "gnubg":
        from engine.rl.agents.gnubg import GnubgAgent

        agent = GnubgAgent(seed)
    elif low.startswith("mcts:"):
        agent = MCTSAgent(_int_arg(low, "number of rollouts", MAX_ROLLOUTS), seed=seed)
    elif low.startswith("alphabeta:"):
        depth = _int_arg(low, "search depth (above 9 a move takes minutes)", MAX_DEPTH)
        agent = AlphaBetaConnectFour(depth, seed=seed)
    elif low == "default":
        path = ASSETS / game_info(game).default_agent
        if not path.exists():
            raise UserError(f"No trained {game} agent is shipped in {ASSETS} yet.")
        agent = load_agent(path, game)
        agent.seed(seed or 0)
    elif s and _exists(s):
        agent = load_agent(s, game)
        agent.seed(seed or 0)
    else:
        raise UserError(f"Unknown agent '{spec[:60]}'; use {AGENT_HELP}.")
    if agent.games and game not in agent.games:
        raise UserError(f"The {agent.name} agent does not play {game}.")
    if plies is not None:
        if not hasattr(agent, "plies") or game != "backgammon":
            raise UserError(f"'{spec}': only a TD backgammon agent looks ahead by plies.")
        agent.plies = plies  # type: ignore[attr-defined]
    if sims is not None:
        if agent.name != "selfplay" or not 1 <= sims <= MAX_SIMS:
            raise UserError(f"'{spec[:40]}': only a self-play agent takes :Nsims (1 to {MAX_SIMS:,} simulations "
                            "per move).")
        agent.sims = sims  # type: ignore[attr-defined]
    return agent
