"""Backgammon with the full rules of a single game (no doubling cube).

Board: ``board[p][i]`` is the number of player ``p``'s checkers on *its own* point ``i + 1``
(i = 0..23; it moves from 24 down to 1 and bears off below 1), ``board[p][24]`` its bar. Player p's
point ``i + 1`` is the opponent's point ``24 - i``. Player 0 is X, player 1 is O.

A turn (up to four checker moves) is one action: ``legal_actions()`` numbers the distinct resulting
positions of the legal turns, and ``legal_turns()`` gives each one's checker steps ``(from, to)`` in
the mover's point numbers (25 = bar, 0 = off). A view that lets a human move checker by checker uses
:meth:`BackgammonState.next_checker_steps` and :meth:`BackgammonState.turn_for_steps`.

Rules enforced: bar checkers enter first; a blot is hit; bearing off only with all 15 checkers home,
with a higher die allowed when no checker is further back; as many dice as possible must be used, the
larger die when only one can; doubles are played four times. A win scores 1, a gammon 2 (loser bore
off none), a backgammon 3 (and loser still has a checker on the bar or in the winner's home board).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.rl.game import CHANCE, TERMINAL, Game, GameInfo, State
from engine.validate import flag_bool, whole

NUM_CHECKERS = 15
BAR = 24
OFF = -1
ROLLS = [(a, b) for a in range(1, 7) for b in range(1, a + 1)]  # 21 rolls, a >= b
ROLL_PROBS = [(1 / 36 if a == b else 1 / 18) for a, b in ROLLS]
FIRST_ROLLS = [(a, b) for a, b in ROLLS if a != b]  # 15 opening rolls (no doubles)
START = (0, 0, 0, 0, 0, 5, 0, 3, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0)

Board = tuple[int, ...]  # 25 entries: points 1..24 then bar
Step = tuple[int, int]  # (from, to) in the mover's numbering: 25 = bar, 0 = off


def single_moves(me: Board, opp: Board, die: int) -> list[tuple[int, int]]:
    """Moves of one checker by ``die``: (source index, destination index or OFF)."""
    if me[BAR]:
        dst = BAR - die
        return [(BAR, dst)] if opp[23 - dst] <= 1 else []
    out = []
    all_home = sum(me[6:25]) == 0
    highest = max((i for i in range(24) if me[i]), default=-1)
    for src in range(highest + 1):
        if not me[src]:
            continue
        dst = src - die
        if dst >= 0:
            if opp[23 - dst] <= 1:
                out.append((src, dst))
        elif all_home and (dst == -1 or src == highest):  # exact, or higher die from the rearmost
            out.append((src, OFF))
    return out


def apply_single(me: Board, opp: Board, src: int, dst: int) -> tuple[Board, Board, bool]:
    """Move one checker; returns the new boards and whether it hit a blot."""
    m = list(me)
    m[src] -= 1
    if dst != OFF:
        m[dst] += 1
        if opp[23 - dst] == 1:
            o = list(opp)
            o[23 - dst] = 0
            o[BAR] += 1
            return tuple(m), tuple(o), True
    return tuple(m), opp, False


def legal_turns(me: Board, opp: Board, dice: tuple[int, int]) -> list[tuple[tuple[Step, ...], Board, Board]]:
    """All legal turns as (steps, my board after, opponent board after), one per distinct result.

    Breadth-first over partial turns, merging partial turns that reach the same position with the
    same dice left (why: with doubles the raw sequences explode, the positions do not).
    """
    d1, d2 = dice
    remaining0 = (d1,) * 4 if d1 == d2 else tuple(sorted(dice, reverse=True))
    level = {(me, opp, remaining0): ()}
    finals: dict[tuple[Board, Board], tuple[tuple[Step, ...], int, tuple[int, ...]]] = {}
    depth = 0
    while level:
        nxt: dict[tuple[Board, Board, tuple[int, ...]], tuple[Step, ...]] = {}
        for (m, o, rem), steps in level.items():
            moved = False
            for die in sorted(set(rem), reverse=True):
                rest = list(rem)
                rest.remove(die)
                rest_t = tuple(rest)
                for src, dst in single_moves(m, o, die):
                    m2, o2, _ = apply_single(m, o, src, dst)
                    key = (m2, o2, rest_t)
                    if key not in nxt:
                        nxt[key] = steps + ((src + 1, dst + 1),)
                    moved = True
            if not moved:
                used = tuple(sorted(set(remaining0) - set(rem))) if d1 != d2 else ()
                finals.setdefault((m, o), (steps, depth, used))
        level = nxt
        depth += 1
    max_len = max(n for _, n, _ in finals.values())
    turns = [(steps, m, o, used) for (m, o), (steps, n, used) in finals.items() if n == max_len]
    if max_len == 1 and d1 != d2:
        bigger = [t for t in turns if max(d1, d2) in t[3]]
        if bigger:  # only one die can be played: the larger one if possible
            turns = bigger
    return [(steps, m, o) for steps, m, o, _ in turns]


def is_race(me: Board, opp: Board) -> bool:
    """No contact left: all my checkers have passed all the opponent's."""
    my_back = max((i for i in range(25) if me[i]), default=-1)
    opp_back = max((i for i in range(25) if opp[i]), default=-1)
    # opponent's index j is my index 23 - j; contact if my rearmost is behind their rearmost
    return my_back < 23 - opp_back if opp_back >= 0 and my_back >= 0 else True


def tesauro_features(me: np.ndarray, opp: np.ndarray) -> np.ndarray:
    """Tesauro's TD-Gammon input encoding without turn units, vectorised over a batch.

    ``me``, ``opp``: (n, 25) checker counts (points 1..24, bar). Per point and player four units
    (n>=1, n>=2, n>=3, (n-3)/2 if n>3), then bar/2 and off/15: 2 * (96 + 2) = 196 inputs.
    """
    out = []
    for b in (me, opp):
        pts = b[:, :24].astype(np.float32)
        units = np.stack([pts >= 1, pts >= 2, pts >= 3, np.maximum(pts - 3, 0) / 2], axis=2)
        units = units.astype(np.float32)
        out.append(units.reshape(len(b), 96))
        out.append(b[:, 24:25].astype(np.float32) / 2)
        out.append((NUM_CHECKERS - b.sum(axis=1, keepdims=True)).astype(np.float32) / NUM_CHECKERS)
    return np.concatenate(out, axis=1)


def step_to_string(step: Step, hit: bool = False) -> str:
    src, dst = step
    a = "bar" if src == 25 else str(src)
    b = "off" if dst == 0 else str(dst)
    return f"{a}/{b}{'*' if hit else ''}"


class BackgammonState(State):
    game_name = "backgammon"

    def __init__(self) -> None:
        self.board: list[Board] = [START, START]
        self.player = 0
        self.dice: tuple[int, int] | None = None
        self.first = True  # the opening roll decides who starts
        self.history: list[int] = []
        self._turns: list[tuple[tuple[Step, ...], Board, Board]] | None = None

    # -- basic queries ---------------------------------------------------------------------------
    def off(self, p: int) -> int:
        return NUM_CHECKERS - sum(self.board[p])

    def current_player(self) -> int:
        if self.is_terminal():
            return TERMINAL
        return CHANCE if self.dice is None else self.player

    def is_terminal(self) -> bool:
        return self.off(0) == NUM_CHECKERS or self.off(1) == NUM_CHECKERS

    def returns(self) -> list[float]:
        for w in (0, 1):
            if self.off(w) == NUM_CHECKERS:
                k = float(self.points_won(w))
                return [k, -k] if w == 0 else [-k, k]
        return [0.0, 0.0]

    def points_won(self, winner: int) -> int:
        """1 single, 2 gammon, 3 backgammon (from the loser's position)."""
        loser = self.board[1 - winner]
        if self.off(1 - winner) > 0:
            return 1
        if loser[BAR] or any(loser[18:24]):  # on the bar or in the winner's home board
            return 3
        return 2

    def chance_outcomes(self) -> list[tuple[int, float]]:
        if not self.is_chance_node():
            return []
        if self.first:
            return [(i, 1 / 30) for i in range(30)]
        return list(enumerate(ROLL_PROBS))

    # -- turns -----------------------------------------------------------------------------------
    def legal_turns(self) -> list[tuple[tuple[Step, ...], Board, Board]]:
        """(steps, mover's board after, opponent's board after) for each action id."""
        if self.dice is None or self.is_terminal():
            return []
        if self._turns is None:
            p = self.player
            self._turns = legal_turns(self.board[p], self.board[1 - p], self.dice)
        return self._turns

    def legal_actions(self) -> list[int]:
        if self.is_chance_node():
            return [o for o, _ in self.chance_outcomes()]
        return list(range(len(self.legal_turns())))

    def apply_action(self, action: int) -> None:
        if self.is_terminal():
            raise ValueError("the game is over")
        if self.dice is None:
            if self.first:
                if not 0 <= action < 30:
                    raise ValueError(f"bad opening roll {action}")
                self.player = action // 15
                self.dice = FIRST_ROLLS[action % 15]
                self.first = False
            else:
                if not 0 <= action < len(ROLLS):
                    raise ValueError(f"bad roll {action}")
                self.dice = ROLLS[action]
        else:
            turns = self.legal_turns()
            if not 0 <= action < len(turns):
                raise ValueError(f"illegal backgammon action {action}")
            _, m, o = turns[action]
            p = self.player
            self.board[p], self.board[1 - p] = m, o
            self.dice = None
            if not self.is_terminal():
                self.player = 1 - p
        self._turns = None
        self.history.append(action)

    def set_dice(self, d1: int, d2: int) -> None:
        """Set the roll directly (for tests, replays and a human rolling real dice)."""
        self.dice = (max(d1, d2), min(d1, d2))
        self.first = False
        self._turns = None

    def clone(self) -> BackgammonState:
        s = BackgammonState.__new__(BackgammonState)
        s.board = self.board[:]
        s.player, s.dice, s.first = self.player, self.dice, self.first
        s.history = self.history[:]
        s._turns = self._turns
        return s

    # -- checker-by-checker entry for a view -----------------------------------------------------
    def _apply_steps(self, steps: list[Step]) -> tuple[Board, Board, list[int]] | None:
        """Apply steps one checker at a time; None if some step is not a legal single move."""
        p = self.player
        m, o = self.board[p], self.board[1 - p]
        assert self.dice is not None
        rem = [self.dice[0]] * 4 if self.dice[0] == self.dice[1] else list(self.dice)
        for src, dst in steps:
            for die in sorted(set(rem)):  # smallest die that makes this step
                if (src - 1, dst - 1 if dst else OFF) in single_moves(m, o, die):
                    m, o, _ = apply_single(m, o, src - 1, dst - 1 if dst else OFF)
                    rem.remove(die)
                    break
            else:
                return None
        return m, o, rem

    def partial_position(self, steps: list[Step]) -> tuple[Board, Board, list[int]] | None:
        """(mover's board, opponent's board, dice still to play) after the checker steps of an
        unfinished turn, or None if some step is not a legal single move (for a view drawing it)."""
        if self.dice is None:
            return None
        return self._apply_steps(list(steps))

    def pip_count(self, p: int) -> int:
        """Pips player ``p`` still has to move: sum of point number x checkers, 25 for the bar."""
        return sum((i + 1) * n for i, n in enumerate(self.board[p]))

    def next_checker_steps(self, steps: list[Step]) -> list[Step]:
        """Single checker steps that may follow ``steps`` and still lead to a legal turn."""
        finals = {(m, o) for _, m, o in self.legal_turns()}
        out = []
        partial = self._apply_steps(steps)
        if partial is None:
            return []
        m, o, rem = partial
        for die in sorted(set(rem), reverse=True):
            for src, dst in single_moves(m, o, die):
                step = (src + 1, dst + 1)
                if step in out:
                    continue
                m2, o2, _ = apply_single(m, o, src, dst)
                rest = list(rem)
                rest.remove(die)
                if self._can_finish(m2, o2, rest, finals):
                    out.append(step)
        return out

    @staticmethod
    def _can_finish(m: Board, o: Board, rem: list[int], finals: set[tuple[Board, Board]]) -> bool:
        if (m, o) in finals:
            return True
        for die in set(rem):
            rest = list(rem)
            rest.remove(die)
            for src, dst in single_moves(m, o, die):
                m2, o2, _ = apply_single(m, o, src, dst)
                if BackgammonState._can_finish(m2, o2, rest, finals):
                    return True
        return False

    def turn_for_steps(self, steps: list[Step]) -> int | None:
        """The action id whose result equals playing ``steps``, or None if not a complete legal turn."""
        partial = self._apply_steps(steps)
        if partial is None:
            return None
        m, o, _ = partial
        for a, (_, m2, o2) in enumerate(self.legal_turns()):
            if (m, o) == (m2, o2):
                return a
        return None

    # -- text, tensors, serialisation ------------------------------------------------------------
    def action_to_string(self, action: int) -> str:
        if self.is_chance_node():
            if self.first:
                d = FIRST_ROLLS[action % 15]
                return f"{'XO'[action // 15]} starts with {d[0]}-{d[1]}"
            return f"roll {ROLLS[action][0]}-{ROLLS[action][1]}"
        steps = self.legal_turns()[action][0]
        if not steps:
            return "pass"
        p = self.player
        m, o = self.board[p], self.board[1 - p]
        parts = []
        for src, dst in steps:
            hit = dst != 0 and o[24 - dst] == 1
            m, o, _ = apply_single(m, o, src - 1, dst - 1 if dst else OFF)
            parts.append(step_to_string((src, dst), hit))
        return " ".join(parts)

    def string_to_action(self, text: str) -> int:
        from engine.errors import UserError

        text = text.strip().lower().replace("*", "")
        if text.isdigit() and int(text) < len(self.legal_turns()):
            return int(text)
        if text in ("", "pass") and self.legal_turns() and not self.legal_turns()[0][0]:
            return 0
        try:
            steps = []
            for part in text.split():
                a, b = part.split("/")
                steps.append((25 if a == "bar" else int(a), 0 if b == "off" else int(b)))
        except ValueError:
            msg = f"Cannot read the move '{text}'; write steps like '24/18 13/11' or a move number."
            raise UserError(msg) from None
        a = self.turn_for_steps(steps)
        if a is None:
            raise UserError(f"'{text}' is not a legal move with this roll.")
        return a

    def observation_tensor(self, player: int | None = None) -> np.ndarray:
        """Tesauro's 198 inputs from ``player``'s view: 196 board units, then who is to move (2)."""
        p = self.player if player is None or player < 0 else player
        x = tesauro_features(np.array([self.board[p]]), np.array([self.board[1 - p]]))[0]
        turn = np.array([1.0, 0.0] if self.player == p else [0.0, 1.0], dtype=np.float32)
        return np.concatenate([x, turn])

    def point_counts(self) -> list[int]:
        """Signed checkers on points 1..24 in X's numbering (+X, -O), for a view."""
        x, o = self.board
        return [x[i] - o[23 - i] for i in range(24)]

    def __str__(self) -> str:
        pts = self.point_counts()

        def cell(n: int) -> str:
            return " . " if n == 0 else f"{'X' if n > 0 else 'O'}{abs(n):<2d}"

        top = " ".join(f"{i:<3d}" for i in range(13, 25))
        lines = [top, " ".join(cell(pts[i - 1]) for i in range(13, 25)),
                 " ".join(cell(pts[i - 1]) for i in range(12, 0, -1)),
                 " ".join(f"{i:<3d}" for i in range(12, 0, -1)),
                 f"bar X:{self.board[0][BAR]} O:{self.board[1][BAR]}  off X:{self.off(0)} O:{self.off(1)}"]
        if self.is_terminal():
            lines.append(f"{'XO'[self.winner() or 0]} wins {self.points_won(self.winner() or 0)} point(s)")
        elif self.dice is not None:
            lines.append(f"{'XO'[self.player]} to play {self.dice[0]}-{self.dice[1]}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"board": [list(b) for b in self.board], "player": self.player,
                "dice": list(self.dice) if self.dice else None, "first": self.first, "history": self.history}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackgammonState:
        s = cls()
        rows = data["board"]
        if not isinstance(rows, list) or len(rows) != 2 or any(not isinstance(b, list) or len(b) != 25 for b in rows):
            raise ValueError("board must be two lists of 25 non-negative counts, at most 15 checkers each")
        board = [tuple(whole(v, "checker count", 0, NUM_CHECKERS) for v in b) for b in rows]
        if any(sum(b) > NUM_CHECKERS for b in board):
            raise ValueError("board must be two lists of 25 non-negative counts, at most 15 checkers each")
        s.board = board
        s.player = whole(data["player"], "player", 0, 1)
        dice = data.get("dice")
        if dice and (not isinstance(dice, list) or len(dice) != 2):
            raise ValueError("dice must be two numbers from 1 to 6")
        s.dice = tuple(whole(d, "die", 1, 6) for d in dice) if dice else None  # type: ignore[assignment]
        s.first = flag_bool(data.get("first", False), "first")
        history = data.get("history", [])
        if not isinstance(history, list) or len(history) > 100_000:
            raise ValueError("history must be a list of moves")
        s.history = [whole(a, "move", 0, 2**31) for a in history]
        return s


def position(x: dict[int, int], o: dict[int, int], player: int = 0,
             dice: tuple[int, int] | None = None) -> BackgammonState:
    """Build a position from {point: count} in each player's own numbering (25 = bar, for tests)."""
    s = BackgammonState()
    boards = []
    for spec in (x, o):
        b = [0] * 25
        for pt, n in spec.items():
            b[pt - 1] = n
        boards.append(tuple(b))
    s.board = boards
    s.player = player
    s.first = False
    if dice:
        s.set_dice(*dice)
    return s


class Backgammon(Game):
    name = "backgammon"
    info = GameInfo(
        "backgammon", "Backgammon", ("White", "Black"), ("#f3ead7", "#3a3230"),
        agents=("default", "default:1ply", "gnubg", "pubeval", "random"), default_agent="backgammon.safetensors",
        agent_file="agent.safetensors", references=("random", "pubeval", "gnubg"),
        training={
            "td": {"games": 20_000, "hidden": 80, "lr": 0.1, "lam": 0.7, "eval_every": 2_000, "eval_games": 200},
        })
    has_chance = True

    def new_initial_state(self) -> BackgammonState:
        return BackgammonState()

    def state_class(self) -> type[BackgammonState]:
        return BackgammonState
