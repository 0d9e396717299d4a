"""A finished game kept as a record, replayed move by move and reviewed by an agent.

A :class:`GameRecord` is what a Play or Watch game (or ``txe rl record``) leaves behind: the game, the
two players' names and every event in order, players' moves and chance's dice alike, plus the result.
It is saved as small JSON (written atomically) and loading it replays every move through the rules, so
a damaged or foreign file is refused with one line instead of showing a wrong game.

:func:`analyse_game` is the post-mortem that backgammon players run in GNU Backgammon and chess players
in an engine: at every position where a player moved, the analysing agent values every legal move
(:func:`engine.rl.analysis.analyse`: its own Q(s, a), TD-Gammon's afterstate value O(s') or a search's
mean). In the terms of seed 000's last lecture, Q(s, a) estimates the future reward of playing a in s
and the greedy policy plays the largest; a move is judged by what it gives up against that greedy
choice, ``value lost = Q(s, best) - Q(s, played)``. With exact values (the minimax value of
tic-tac-toe) a move that throws a win away into a draw loses 1, into a loss 2.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.rl.agents.base import Agent
from engine.rl.analysis import Analysis, analyse, has_win_estimate, win_probability_for
from engine.rl.game import GAME_NAMES, State, get_game
from engine.tasks import CancelToken
from engine.validate import parse_json

FORMAT = "txe-game"
VERSION = 1
MAX_BYTES = 4 * 2**20  # a backgammon game between random agents is some 30 KiB
MAX_EVENTS = 5_000  # moves and rolls in one game (random backgammon players take some 300)
MAX_NAME = 200
DEFAULT_THRESHOLD = 0.2  # value lost (on the [-1, 1] scale) that makes a move a blunder
TIE = 1e-9


@dataclass
class RecordedMove:
    """One event of a game: a player's move (player 0 or 1) or chance's roll (player -1)."""

    player: int
    action: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"player": self.player, "action": self.action, "text": self.text}


@dataclass
class GameRecord:
    """A whole game: start position (None: the usual start), every event, and how it ended."""

    game: str
    players: tuple[str, str]
    moves: list[RecordedMove]
    start: dict[str, Any] | None = None  # State.to_dict() of a game set up from a position
    source: str = ""  # play, watch, cli
    returns: list[float] = field(default_factory=list)

    # --- replaying -------------------------------------------------------------------------------

    def initial_state(self) -> State:
        game = get_game(self.game)
        if self.start is None:
            return game.new_initial_state()
        return game.state_from_json(json.dumps({"game": self.game, **self.start}))

    def states(self) -> Iterator[tuple[State, RecordedMove]]:
        """(position before, event) for every event, the position a fresh copy each time."""
        state = self.initial_state()
        for move in self.moves:
            yield state.clone(), move
            state.apply_action(move.action)

    def final_state(self) -> State:
        state = self.initial_state()
        for move in self.moves:
            state.apply_action(move.action)
        return state

    def player_moves(self) -> int:
        return sum(1 for m in self.moves if m.player >= 0)

    def winner(self) -> int | None:
        if not self.returns or self.returns[0] == self.returns[1]:
            return None
        return 0 if self.returns[0] > self.returns[1] else 1

    def result_text(self) -> str:
        w = self.winner()
        if w is None:
            return "draw"
        points = abs(self.returns[w])
        return f"{self.players[w]} won" + (f" ({points:g} points)" if points > 1 else "")

    # --- saving ----------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "game": self.game, "players": list(self.players),
                "source": self.source, "start": self.start, "moves": [m.to_dict() for m in self.moves],
                "result": {"returns": self.returns, "winner": self.winner()}}

    def save(self, path: str | Path) -> Path:
        from engine import files

        data = json.dumps(self.to_dict(), ensure_ascii=False).encode("utf-8")
        return files.atomic_write_bytes(Path(path), data, f"the game record {path}")


def record_from_state(final: State, players: tuple[str, str], start: State | None = None,
                      source: str = "") -> GameRecord:
    """The record of the game that led from ``start`` (default: the usual start) to ``final``.

    Every state keeps its history of actions (backgammon's dice included), so the game is read off it.
    """
    game = get_game(final.game_name)
    first = start.clone() if start is not None else game.new_initial_state()
    begin = len(first.history)  # type: ignore[attr-defined]
    history = list(final.history)  # type: ignore[attr-defined]
    if history[:begin] != list(first.history):  # type: ignore[attr-defined]
        raise UserError("That game did not start from the position given.")
    start_dict = None if start is None or _is_initial(start) else start.to_dict()
    state, moves = first, []
    for action in history[begin:]:
        p = state.current_player()
        moves.append(RecordedMove(p if p >= 0 else -1, action, state.action_to_string(action)))
        state.apply_action(action)
    rec = GameRecord(game.name, (str(players[0])[:MAX_NAME], str(players[1])[:MAX_NAME]), moves, start_dict,
                     source, [float(r) for r in state.returns()] if state.is_terminal() else [])
    return rec


def _is_initial(state: State) -> bool:
    return state.to_json() == get_game(state.game_name).new_initial_state().to_json()


def play_record(game_name: str, agents: tuple[Agent, Agent], names: tuple[str, str], seed: int = 0,
                token: CancelToken | None = None) -> GameRecord:
    """Play one game between two agents (``agents[0]`` plays player 0) and keep it as a record."""
    import random

    rng = random.Random(seed)
    for i, a in enumerate(agents):
        a.seed(seed * 7919 + 1 + i)
    state = get_game(game_name).new_initial_state()
    while not state.is_terminal():
        if token is not None:
            token.check()
        if state.is_chance_node():
            state.apply_random_chance(rng)
        else:
            state.apply_action(agents[state.current_player()].step(state))
    return record_from_state(state, names, source="cli")


# --- loading, checking everything -------------------------------------------------------------------

def _damaged(where: str, why: str) -> UserError:
    return UserError(f"{where} is a damaged game record ({why}).")


def record_from_dict(data: Any, where: str = "That file") -> GameRecord:
    """Check a parsed record field by field and replay it through the rules; a UserError if anything is off."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{where} is not a saved game (no '{FORMAT}' format field).")
    if data.get("version") != VERSION:
        raise UserError(f"{where} is a game record of version {str(data.get('version'))[:20]}; this program reads "
                        f"version {VERSION}.")
    game = data.get("game")
    if game not in GAME_NAMES:
        raise _damaged(where, f"unknown game {str(game)[:40]!r}")
    players = data.get("players")
    if (not isinstance(players, list) or len(players) != 2
            or not all(isinstance(p, str) and len(p) <= MAX_NAME for p in players)):
        raise _damaged(where, "players must be two names")
    moves = data.get("moves")
    if not isinstance(moves, list) or len(moves) > MAX_EVENTS:
        raise _damaged(where, f"moves must be a list of at most {MAX_EVENTS:,} events")
    start = data.get("start")
    if start is not None and not isinstance(start, dict):
        raise _damaged(where, "the start position must be an object or null")
    source = data.get("source", "")
    rec = GameRecord(game, (players[0], players[1]), [], start, source[:MAX_NAME] if isinstance(source, str) else "")
    try:
        state = rec.initial_state()
    except UserError as e:
        raise _damaged(where, f"start position: {e}") from None
    for i, m in enumerate(moves, 1):
        if state.is_terminal():
            raise _damaged(where, f"event {i} comes after the game ended")
        if not isinstance(m, dict) or set(m) - {"player", "action", "text"}:
            raise _damaged(where, f"event {i} is not a move")
        player, action, text = m.get("player"), m.get("action"), m.get("text")
        mover = state.current_player()
        if type(player) is not int or player != (mover if mover >= 0 else -1):
            raise _damaged(where, f"event {i} is by the wrong player")
        if type(action) is not int or action not in state.legal_actions():
            raise _damaged(where, f"event {i} is not a legal move there")
        expected = state.action_to_string(action)
        if text != expected:
            raise _damaged(where, f"event {i} says {str(text)[:30]!r} but the move is {expected!r}")
        rec.moves.append(RecordedMove(player, action, text))
        state.apply_action(action)
    if not state.is_terminal():
        raise _damaged(where, "the game does not reach its end")
    result = data.get("result")
    returns = result.get("returns") if isinstance(result, dict) else None
    if returns != state.returns():
        raise _damaged(where, f"the result {str(returns)[:40]} is not how the moves end")
    rec.returns = [float(r) for r in state.returns()]
    return rec


def load_record(path: str | Path) -> GameRecord:
    """Read a saved game (at most 4 MiB of UTF-8 JSON) and check it (see :func:`record_from_dict`)."""
    from engine.corpus import read_utf8

    text = read_utf8(path, MAX_BYTES, "a saved game", "a saved game (JSON)")
    return record_from_dict(parse_json(text, f"{path} is not a saved game"), str(path))


# --- the review ----------------------------------------------------------------------------------

@dataclass
class MoveReview:
    """The analysing agent's verdict on one player's move (values are the mover's, in the agent's scale)."""

    index: int  # position of the move in GameRecord.moves
    ply: int  # 1 for the first player's move, 2 for the next, ...
    player: int
    action: int
    text: str
    dice: str  # backgammon: the roll the move played ("" otherwise)
    values: dict[int, float]
    visits: dict[int, int]
    bounded: bool
    value_kind: str
    best: int | None
    best_text: str
    played_value: float | None
    best_value: float | None
    value_lost: float | None
    disagreed: bool
    blunder: bool
    wp_before: float | None  # P(player 0 wins) with the agent's best move, then after the move played
    wp_after: float | None
    top: list[dict[str, Any]] = field(default_factory=list)
    researched: bool = False  # the played move's value comes from a search of the position after it

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("index", "ply", "player", "action", "text", "dice", "best", "best_text",
                                           "played_value", "best_value", "value_lost", "disagreed", "blunder",
                                           "wp_before", "wp_after", "top")}
        d["legal"] = len(self.values)
        d["researched"] = self.researched
        return d


def _played_value(agent: Agent, state: State, action: int, result: Analysis) -> float | None:
    """The agent's value of the move played. A search's mean over a handful of visits is no estimate
    (one visit is the raw network's guess), so for a move it tried fewer than 10 times (fewer than a
    tenth of the simulations in a small search) the position after it is searched as deeply as the
    root was, and the move is worth minus the opponent's best reply there (negamax): each candidate
    judged at the same depth, as GNU Backgammon's analysis does."""
    if result.visits:
        tried = result.visits.get(action, 0)
        searched = action == result.best() or tried >= min(10, max(1, sum(result.visits.values()) // 10))
    else:
        searched = True
    if action in result.values and searched:
        return result.values[action]
    after = state.clone()
    after.apply_action(action)
    if after.is_terminal():
        r = after.returns()[result.player]
        return max(-1.0, min(1.0, r))
    if after.is_chance_node() or not result.bounded:
        return None
    reply = analyse(agent, after)
    best = reply.best()
    if best is None or best not in reply.values:
        return None
    return -reply.values[best] if reply.player != result.player else reply.values[best]


def _for_player0(p_mover: float | None, mover: int) -> float | None:
    if p_mover is None or math.isnan(p_mover):
        return None
    return p_mover if mover == 0 else 1.0 - p_mover


def analyse_game(record: GameRecord, agent: Agent, token: CancelToken | None = None,
                 threshold: float = DEFAULT_THRESHOLD, top: int = 5) -> Iterator[MoveReview]:
    """Review every player's move of ``record`` with ``agent``, one :class:`MoveReview` per move as it goes.

    The best move is the one the agent would play (most visited for a search). ``value_lost`` is
    ``max(0, V(best) - V(played))``: a search's most tried move may have a slightly lower mean than one
    it barely tried, and a move it does not prefer is not a gain. ``disagreed``: the agent would have
    played another move that it values higher. ``blunder``: value lost >= ``threshold``, for agents with
    values in [-1, 1] only (pubeval's linear score has no such scale). Chance events (dice) are kept in
    the next move's ``dice``. Between moves it checks ``token`` (cancel, pause).
    """
    if not 0 < threshold <= 2:
        raise UserError(f"The blunder threshold must be above 0 and at most 2, not {threshold}.")
    if agent.games and record.game not in agent.games:
        raise UserError(f"The {agent.name} agent does not play {record.game}.")
    ply = 0
    for index, (state, move) in enumerate(record.states()):
        if move.player < 0:
            continue
        if token is not None:
            token.check()
        ply += 1
        result = analyse(agent, state)
        best = result.best()
        dice = getattr(state, "dice", None)
        played_value = _played_value(agent, state, move.action, result)
        researched = played_value is not None and played_value != result.values.get(move.action)
        best_value = result.values.get(best) if best is not None else None
        lost = None
        if played_value is not None and best_value is not None:
            lost = max(0.0, best_value - played_value)
        if best is None:
            disagreed = False
        elif lost is not None:
            disagreed = best != move.action and lost > TIE
        else:
            disagreed = best != move.action
        blunder = bool(result.bounded and lost is not None and lost >= threshold - TIE)
        after = state.clone()
        after.apply_action(move.action)
        wp_before, wp_after = _win_probabilities(agent, state, after, result, best_value, played_value)
        yield MoveReview(index, ply, move.player, move.action, move.text, f"{dice[0]}-{dice[1]}" if dice else "",
                         dict(result.values), dict(result.visits), result.bounded, result.value_kind, best,
                         state.action_to_string(best) if best is not None else "", played_value, best_value,
                         lost, disagreed, blunder, wp_before, wp_after, result.top(state, top), researched)


def _win_probabilities(agent: Agent, before: State, after: State, result: Analysis, best_value: float | None,
                       played_value: float | None) -> tuple[float | None, float | None]:
    """P(player 0 wins) before the move (with the agent's best) and after the move played.

    Agents that estimate win probabilities themselves (TD, tabular, perfect) are asked; search agents
    and the rest answer from their values, (V + 1) / 2 for the mover (as the Play page's curve does)."""
    mover = result.player
    if after.is_terminal():
        w = after.winner()
        exact = 0.5 if w is None else float(w == 0)
    else:
        exact = None
    own = has_win_estimate(agent) and not result.visits
    if own:
        wp_before = win_probability_for(agent, before, 0, result)
        wp_after = exact if exact is not None else win_probability_for(agent, after, 0)
        return wp_before, wp_after
    if not result.bounded:
        return None, exact
    wp_before = _for_player0((best_value + 1) / 2 if best_value is not None else None, mover)
    wp_after = exact if exact is not None else _for_player0(
        (played_value + 1) / 2 if played_value is not None else None, mover)
    return wp_before, wp_after


def summarise(record: GameRecord, reviews: list[MoveReview], agent: str, threshold: float) -> dict[str, Any]:
    """Per player: moves, disagreements, blunders and the mean value lost; the game's result."""
    per = []
    for p in (0, 1):
        mine = [r for r in reviews if r.player == p]
        lost = [r.value_lost for r in mine if r.value_lost is not None]
        per.append({"name": record.players[p], "moves": len(mine), "disagreed": sum(r.disagreed for r in mine),
                    "blunders": sum(r.blunder for r in mine),
                    "mean_value_lost": round(sum(lost) / len(lost), 4) if lost else None})
    return {"game": record.game, "players": list(record.players), "result": record.result_text(),
            "returns": record.returns, "agent": agent, "threshold": threshold, "moves": len(reviews),
            "per_player": per}
