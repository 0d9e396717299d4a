"""Strength over training: a round robin between a run's checkpoints and reference opponents, rated on
one Elo scale by a Bradley-Terry fit.

**The model** (Bradley & Terry 1952): player i has a strength beta_i and scores against player j with
probability P(i beats j) = 1 / (1 + exp(-(beta_i - beta_j))). A draw counts as half a win for each side,
so the data are the score matrix S (S_ij = wins of i against j + draws / 2) and the games matrix N. The
Elo scale (Elo 1978, "The Rating of Chessplayers") is the same model in base 10 and units of 400:
R_i = 400 log10(e) beta_i, P(i beats j) = 1 / (1 + 10^(-(R_i - R_j) / 400)); 200 Elo above is a
76% expected score, 400 above 91%.

**The fit** maximises the log-likelihood l(beta) = sum_ij S_ij log P(i beats j) by Newton's method with a
step-halving line search (l is concave; Hunter 2004, "MM algorithms for generalized Bradley-Terry models",
gives the classic MM iteration, but Newton also gives the Hessian the intervals need). A player who lost
every game (random against trained Connect Four agents) has no finite maximum, so a weak Gaussian prior
keeps it finite: beta_i - mean(beta) ~ N(0, sd^2) with sd = ``prior_sd_elo`` (1000 Elo by default), i.e.
a penalty that barely moves ratings the games pin down, and gives an unbounded one a wide interval instead
of infinity.

**Anchor and intervals**: ratings are only defined up to a shift, so one player (the ``anchor``, default
``random``) is fixed at 0 and the others are fitted relative to it. The 95% intervals come from the
observed Fisher information: the inverse of the negative Hessian of the penalised log-likelihood at the
maximum (over the non-anchor players) is the covariance of their ratings, and each interval is
R_i +- 1.96 sd_i, an interval for the difference to the anchor (the anchor's own is [0, 0]). They assume
the games are independent: two deterministic agents replay the same game from each seat, so between
such agents the interval is narrower than the truth.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from engine.errors import UserError
from engine.events import Event, Finished, Progress, Snapshot, Started
from engine.rl.arena import play_game
from engine.rl.control import CancelToken
from engine.rl.game import get_game
from engine.validate import mapping, real, whole

ELO_PER_NAT = 400.0 * math.log10(math.e)  # 173.72 Elo per unit of beta
Z95 = 1.959964
MAX_PLAYERS = 64
MAX_GAMES_PER_PAIR = 100_000
T = TypeVar("T")


@dataclass(frozen=True)
class Player:
    """One entrant: ``label`` as the table shows it, ``spec`` as make_agent reads it (a reference name or an
    agent file), ``games`` trained for a checkpoint (None for a reference opponent)."""

    label: str
    spec: str
    games: int | None = None


@dataclass
class Ratings:
    """A Bradley-Terry fit: Elo of each player (anchor = 0), its 95% interval and standard error."""

    labels: list[str]
    elo: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    se: np.ndarray
    anchor: str
    iterations: int
    log_likelihood: float


@dataclass
class LadderResult:
    """What a ladder measured and how it rates the players (see the module docstring)."""

    game: str
    players: list[Player]
    score: np.ndarray  # score[i, j]: points of i against j (win 1, draw 1/2)
    games: np.ndarray  # games[i, j]: games i and j played
    ratings: Ratings
    games_per_pair: int
    complete: bool
    elapsed_s: float
    seed: int = 0

    def rows(self) -> list[dict[str, Any]]:
        """One row per player, in the players' order: label, games trained, Elo and its interval, score."""
        r = self.ratings
        out = []
        for i, p in enumerate(self.players):
            n = float(self.games[i].sum())
            out.append({"player": p.label, "spec": p.spec, "games_trained": p.games,
                        "elo": round(float(r.elo[i]), 1), "elo_lo": round(float(r.lo[i]), 1),
                        "elo_hi": round(float(r.hi[i]), 1), "elo_se": round(float(r.se[i]), 1),
                        "games_played": int(n),
                        "score": round(float(self.score[i].sum()) / n, 4) if n else None})
        return out

    def to_dict(self) -> dict[str, Any]:
        n = self.games
        frac = np.divide(self.score, n, out=np.full_like(self.score, np.nan), where=n > 0)
        return {"kind": "txe-ladder", "version": 1, "game": self.game, "anchor": self.ratings.anchor,
                "games_per_pair": self.games_per_pair, "complete": self.complete,
                "games_played": int(n.sum() // 2), "elapsed_s": round(self.elapsed_s, 2), "seed": self.seed,
                "method": "Bradley-Terry maximum likelihood (draw = half a win), Newton's method, Gaussian "
                          "prior on ratings; 95% intervals from the observed Fisher information",
                "players": self.rows(),
                "score_matrix": [[None if math.isnan(v) else round(float(v), 4) for v in row] for row in frac],
                "games_matrix": n.astype(int).tolist()}

    def table(self) -> str:
        """The ratings as a plain-text table, strongest first."""
        rows = sorted(self.rows(), key=lambda r: -r["elo"])
        width = max(8, *(len(r["player"]) for r in rows))
        lines = [f"{'player':<{width}}  {'trained':>9}  {'Elo':>7}  {'95% interval':>17}  {'score':>6}"]
        for r in rows:
            trained = "-" if r["games_trained"] is None else f"{r['games_trained']:,}"
            interval = f"[{r['elo_lo']:.0f}, {r['elo_hi']:.0f}]"
            score = "-" if r["score"] is None else f"{r['score']:.3f}"
            lines.append(f"{r['player']:<{width}}  {trained:>9}  {r['elo']:>7.0f}  {interval:>17}  {score:>6}")
        return "\n".join(lines)


def bradley_terry(score: np.ndarray, games: np.ndarray, labels: Sequence[str], anchor: str | int = 0,
                  prior_sd_elo: float = 1000.0, max_iter: int = 100, tol: float = 1e-10) -> Ratings:
    """Fit Bradley-Terry strengths to ``score`` (points of i against j, draws as 1/2) out of ``games``.

    Returns Elo ratings with ``anchor`` (a label or an index) at 0 and 95% intervals from the observed
    Fisher information of the penalised likelihood (module docstring). A player with no games yet sits at
    the others' mean with the prior's wide interval (a progressive fit shows it so, it does not hide it).
    """
    s = np.asarray(score, dtype=float)
    n = np.asarray(games, dtype=float)
    k = len(labels)
    if s.shape != (k, k) or n.shape != (k, k):
        raise UserError(f"The score and games matrices must be {k} x {k}.")
    if k < 2:
        raise UserError("A ladder needs at least two players.")
    if not np.allclose(n, n.T) or np.any(n < 0) or np.any(s < -1e-9) or np.any(s > n + 1e-9):
        raise UserError("The games matrix must be symmetric and each score between 0 and its games.")
    if not np.allclose(s + s.T, n):
        raise UserError("Each pair's scores must add up to the games they played.")
    labels = list(labels)
    a = (labels.index(anchor) if anchor in labels else -1) if isinstance(anchor, str) else int(anchor)
    if not 0 <= a < k:
        raise UserError(f"No player '{anchor}' to anchor the ratings at 0.")
    free = np.array([i for i in range(k) if i != a])
    lam = (ELO_PER_NAT / prior_sd_elo) ** 2  # prior precision in units of beta
    centre = np.eye(k) - 1.0 / k  # beta - mean(beta) = centre @ beta

    def objective(beta: np.ndarray) -> float:
        d = beta[:, None] - beta[None, :]
        ll = float(np.sum(s * -np.logaddexp(0.0, -d)))  # sum S_ij log sigmoid(beta_i - beta_j)
        c = centre @ beta
        return ll - 0.5 * lam * float(c @ c)

    def grad_hess(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = beta[:, None] - beta[None, :]
        p = 1.0 / (1.0 + np.exp(-d))
        g = np.sum(s - n * p, axis=1) - lam * (centre @ beta)
        w = n * p * (1.0 - p)  # symmetric: the information of each pair
        h = w - np.diag(w.sum(axis=1)) - lam * centre
        return g, h

    beta = np.zeros(k)
    value = objective(beta)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007  (the count is reported)
        g, h = grad_hess(beta)
        step = np.linalg.solve(h[np.ix_(free, free)], -g[free])  # Newton: H step = -g on the free players
        t = 1.0
        while True:
            trial = beta.copy()
            trial[free] += t * step
            new = objective(trial)
            if new >= value - 1e-12 or t < 1e-6:
                break
            t /= 2
        beta, gain, value = trial, new - value, new
        if abs(gain) < tol and float(np.max(np.abs(t * step))) < 1e-7:
            break
    _, h = grad_hess(beta)
    cov = np.zeros((k, k))
    cov[np.ix_(free, free)] = np.linalg.inv(-h[np.ix_(free, free)])
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None)) * ELO_PER_NAT
    elo = beta * ELO_PER_NAT
    return Ratings(labels, elo, elo - Z95 * se, elo + Z95 * se, se, labels[a], iterations,
                   value + 0.5 * lam * float((centre @ beta) @ (centre @ beta)))


def default_anchor(players: Sequence[Player], references: Sequence[str]) -> str:
    """``random`` if it plays, else the first reference opponent that does, else the first player."""
    specs = [p.spec.lower() for p in players]
    for name in ("random", *references):
        if name.lower() in specs:
            return players[specs.index(name.lower())].label
    return players[0].label


def pair_order(players: Sequence[Player], anchor: int) -> list[tuple[int, int]]:
    """Every pair once, in an order that rates everyone early (a progressive fit makes sense after the
    first len-1 pairs): each player against the anchor, then neighbours in training, then the rest."""
    k = len(players)
    pairs = [(anchor, j) for j in range(k) if j != anchor]
    pairs += [(i, i + 1) for i in range(k - 1) if anchor not in (i, i + 1)]
    done = {frozenset(p) for p in pairs}
    pairs += [(i, j) for i in range(k) for j in range(i + 1, k) if frozenset((i, j)) not in done]
    return pairs


def ladder(game_name: str, players: Sequence[Player], games_per_pair: int = 20, *, seed: int = 0,
           anchor: str | None = None, token: CancelToken | None = None, out: str | Path | None = None,
           report_every_s: float = 0.5, prior_sd_elo: float = 1000.0) -> Iterator[Event]:
    """Play a round robin between ``players`` (``games_per_pair`` games per pair, seats alternating as in
    arena.evaluate) and rate them (module docstring).

    Yields Started (the players), Progress (step = games played of all the pairs'), a Snapshot after each
    pair with the ratings so far (a LadderResult, ``complete`` False until the last pair), and Finished
    (summary = the result's dict, result = the LadderResult; ``stopped`` when the token was cancelled:
    then the ratings are of the games played). With ``out`` the result is also written there as JSON.
    Every player is loaded before any game, so a bad one is a UserError at once.
    """
    from engine.rl.registry import make_agent

    game = get_game(game_name)
    if len(players) < 2:
        raise UserError("A ladder needs at least two players (checkpoints or reference opponents).")
    if len(players) > MAX_PLAYERS:
        raise UserError(f"A ladder takes at most {MAX_PLAYERS} players, not {len(players)}; use --last or --most.")
    if not 1 <= games_per_pair <= MAX_GAMES_PER_PAIR:
        raise UserError(f"Games per pair must be from 1 to {MAX_GAMES_PER_PAIR:,}, not {games_per_pair}.")
    labels = [p.label for p in players]
    if len(set(labels)) != len(labels):
        raise UserError("Each ladder player must appear once.")
    anchor = anchor or default_anchor(players, game.info.references)
    if anchor not in labels:
        raise UserError(f"The anchor '{anchor}' is not one of the players ({', '.join(labels)}).")
    out_path = Path(out) if out else None
    if out_path is not None:
        from engine.files import check_output

        check_output(out_path)
    agents = [make_agent(p.spec, game.name, seed=seed + i) for i, p in enumerate(players)]
    token = token or CancelToken()
    k = len(players)
    score, games = np.zeros((k, k)), np.zeros((k, k))
    pairs = pair_order(players, labels.index(anchor))
    total = len(pairs) * games_per_pair
    start = last = time.monotonic()
    played, stopped = 0, False

    def result(complete: bool) -> LadderResult:
        ratings = bradley_terry(score, games, labels, anchor, prior_sd_elo)
        return LadderResult(game.name, list(players), score.copy(), games.copy(), ratings, games_per_pair,
                            complete, time.monotonic() - start, seed)

    yield Started({"game": game.name, "players": labels, "pairs": len(pairs), "games": total, "anchor": anchor})
    for pair_index, (i, j) in enumerate(pairs):
        rng = random.Random(seed * 1_000_003 + pair_index)
        agents[i].seed(seed * 7919 + 2 * pair_index + 1)
        agents[j].seed(seed * 7919 + 2 * pair_index + 2)
        for g in range(games_per_pair):
            token.wait_if_paused()
            if token.cancelled:
                stopped = True
                break
            i_side = g % 2  # i plays first in the even games, second in the odd ones
            final = play_game(game, (agents[i], agents[j]) if i_side == 0 else (agents[j], agents[i]), rng)
            r = final.returns()[i_side]
            points = 1.0 if r > 0 else 0.0 if r < 0 else 0.5
            score[i, j] += points
            score[j, i] += 1.0 - points
            games[i, j] += 1
            games[j, i] += 1
            played += 1
            now = time.monotonic()
            if now - last >= report_every_s:
                last = now
                rate = played / max(now - start, 1e-9)
                yield Progress(played, total, now - start, (total - played) / rate,
                               {"pair": pair_index + 1, "pairs": len(pairs), "games_per_s": rate})
        if stopped:
            break
        now = time.monotonic()
        yield Progress(played, total, now - start, (total - played) / max(played / max(now - start, 1e-9), 1e-9),
                       {"pair": pair_index + 1, "pairs": len(pairs),
                        "games_per_s": played / max(now - start, 1e-9)})
        yield Snapshot(pair_index + 1, result(pair_index + 1 == len(pairs)))
    final_result = result(not stopped and played == total)
    summary = final_result.to_dict()
    if out_path is not None:
        save_ladder(final_result, out_path)
        summary["out"] = str(out_path)
    yield Finished(summary, stopped, final_result)


def save_ladder(result: LadderResult, path: str | Path) -> Path:
    """Write the result as JSON (atomically)."""
    import json

    from engine.files import atomic_write_text

    return atomic_write_text(path, json.dumps(result.to_dict(), indent=1) + "\n", "the ladder")


def run_players(run: str | Path, game_name: str, references: Sequence[str] | None = None,
                last: int | None = None, most: int | None = None) -> list[Player]:
    """The ladder's players for the run in folder ``run``: its checkpoints (the ``last`` ones, then at most
    ``most`` of those spread evenly from the first to the last) and the reference opponents (default: the
    game's). A folder without checkpoints, or holding another game's agents, is a UserError."""
    from engine.rl.train import list_checkpoints

    folder = Path(run)
    if not folder.is_dir():
        raise UserError(f"No run folder {folder}.")
    checkpoints = list_checkpoints(folder)
    if not checkpoints:
        raise UserError(f"{folder} holds no checkpoints (checkpoints/agent-NNNNNNNNN.*); train with this version "
                        "to keep them.")
    if last is not None:
        if last < 1:
            raise UserError("--last must be at least 1.")
        checkpoints = checkpoints[-last:]
    if most is not None and most > 0:
        checkpoints = spread(checkpoints, most)
    played = run_game(folder)
    if played != game_name:
        raise UserError(f"{folder} is a run of {played}, not {game_name}.")
    refs = list(get_game(game_name).info.references if references is None else references)
    players = [Player(f"agent@{c.games}", str(c.path), c.games) for c in checkpoints]
    seen = set()
    for r in refs:
        name = r.strip()
        if not name:
            continue
        if name.lower() in seen:
            raise UserError(f"'{name}' is listed twice.")
        seen.add(name.lower())
        players.append(Player(name, name))
    return players


def run_game(run: str | Path) -> str:
    """The game the run in folder ``run`` trained on (from its newest checkpoint)."""
    from engine.rl.agents.base import read_agent_file
    from engine.rl.train import list_checkpoints

    checkpoints = list_checkpoints(run)
    if not checkpoints:
        raise UserError(f"{run} holds no checkpoints (checkpoints/agent-NNNNNNNNN.*); train with this version "
                        "to keep them.")
    header, _ = read_agent_file(checkpoints[-1].path)
    return str(header.get("game"))


def run_ladder(run: str | Path, games_per_pair: int = 20, *, references: Sequence[str] | None = None,
               last: int | None = None, most: int | None = 12, seed: int = 0, anchor: str | None = None,
               token: CancelToken | None = None, out: str | Path | None = None,
               report_every_s: float = 0.5) -> Iterator[Event]:
    """:func:`ladder` of the run in folder ``run`` (its game read from its checkpoints, the players from
    :func:`run_players`), written to ``out`` (default: ``run/ladder.json``). What the Arena's Train page runs."""
    game = run_game(run)
    players = run_players(run, game, references, last=last, most=most)
    yield from ladder(game, players, games_per_pair, seed=seed, anchor=anchor, token=token,
                      out=out or Path(run) / "ladder.json", report_every_s=report_every_s)


def spread(items: Sequence[T], most: int) -> list[T]:
    """At most ``most`` of ``items``, evenly spaced, always with the first and the last."""
    if most >= len(items):
        return list(items)
    if most == 1:
        return [items[-1]]
    picks = sorted({round(i * (len(items) - 1) / (most - 1)) for i in range(most)})
    return [items[i] for i in picks]


def load_ladder(path: str | Path) -> dict[str, Any]:
    """A ladder JSON written by :func:`save_ladder` (for a view that opens a finished run)."""
    import json

    from engine.corpus import read_checked_bytes

    try:
        data = json.loads(read_checked_bytes(Path(path), 16 * 2**20, "a ladder").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"{path} is not a ladder (not JSON).") from None
    if not isinstance(data, dict) or data.get("kind") != "txe-ladder" or not isinstance(data.get("players"), list):
        raise UserError(f"{path} is not a ladder written by txe rl ladder.")
    where = f"the ladder {path}"
    whole(data.get("games_played", 0), "games_played", 0, 10**12, where)
    whole(data.get("games_per_pair", 1), "games_per_pair", 1, MAX_GAMES_PER_PAIR, where)
    for row in data["players"][:MAX_PLAYERS + 1]:  # every field a view draws, checked before it draws
        mapping(row, "a player", where)
        if not isinstance(row.get("player"), str):
            raise UserError(f"{where} is damaged: a player without a name")
        if row.get("games_trained") is not None:
            whole(row["games_trained"], "games_trained", 0, 10**15, where)
        whole(row.get("games_played", 1), "games_played", 0, 10**12, where)
        for key in ("elo", "elo_lo", "elo_hi"):
            real(row.get(key), key, -1e6, 1e6, where)
    if len(data["players"]) > MAX_PLAYERS:
        raise UserError(f"{where} has more than {MAX_PLAYERS} players.")
    return data
