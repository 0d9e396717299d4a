"""Search agents: perfect minimax (tic-tac-toe), alpha-beta with a heuristic and UCT MCTS (Connect Four)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import islice

from engine.rl.agents.base import Agent, SearchAgent
from engine.rl.connect4 import COLS, H1, ROWS, ConnectFourState
from engine.rl.game import State
from engine.rl.search_trace import SimStep
from engine.rl.tictactoe import TicTacToeState

_TTT_MEMO: dict[str, float] = {}


def ttt_value(state: TicTacToeState) -> float:
    """Minimax value for the player to move (+1 win, 0 draw, -1 loss), memoised by board.

    Negamax form: V(s) = max_a -V(s after a); the board alone determines whose turn it is.
    """
    key = state.key()
    v = _TTT_MEMO.get(key)
    if v is not None:
        return v
    if state.is_terminal():
        # a finished game was won by the last mover (or drawn): -1 or 0 for the player "to move"
        v = -abs(state.returns()[0])
    else:
        best = -2.0
        for a in state.legal_actions():
            child = state.clone()
            child.apply_action(a)
            best = max(best, -ttt_value(child))
        v = best
    _TTT_MEMO[key] = v
    return v


class PerfectTicTacToe(Agent):
    """Never loses: picks uniformly among the minimax-optimal moves."""

    name = "perfect"
    games = ("tictactoe",)

    def action_values(self, state: State) -> dict[int, float]:
        assert isinstance(state, TicTacToeState)
        out = {}
        for a in state.legal_actions():
            child = state.clone()
            child.apply_action(a)
            out[a] = -ttt_value(child)
        return out

    def step(self, state: State) -> int:
        return self._argmax(self.action_values(state))

    def win_probability(self, state: State) -> float | None:
        assert isinstance(state, TicTacToeState)
        return (ttt_value(state) + 1) / 2


# --- Connect Four alpha-beta -----------------------------------------------------------------------

def _windows() -> list[int]:
    out = []
    for r in range(ROWS):
        for c in range(COLS):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (-1, 1)):
                cells = [(r + k * dr, c + k * dc) for k in range(4)]
                if all(0 <= rr < ROWS and 0 <= cc < COLS for rr, cc in cells):
                    out.append(sum(1 << (cc * H1 + rr) for rr, cc in cells))
    return out


WINDOWS = _windows()  # the 69 lines of four
WINDOW_SCORE = (0, 1, 4, 16, 0)
CENTER = sum(1 << (3 * H1 + r) for r in range(ROWS))
WIN = 10_000
ORDER = (3, 2, 4, 1, 5, 0, 6)  # centre first: better cut-offs


def c4_heuristic(mine: int, theirs: int) -> int:
    """Open lines of four: 1, 4, 16 per line holding 1, 2, 3 of my discs and none of theirs, minus theirs."""
    s = 0
    for w in WINDOWS:
        a, b = (mine & w).bit_count(), (theirs & w).bit_count()
        if b == 0:
            s += WINDOW_SCORE[a]
        elif a == 0:
            s -= WINDOW_SCORE[b]
    return s + 3 * ((mine & CENTER).bit_count() - (theirs & CENTER).bit_count())


class AlphaBetaConnectFour(Agent):
    """Negamax with alpha-beta pruning to ``depth`` plies, the line-counting heuristic at the leaves."""

    name = "alphabeta"
    games = ("connect4",)

    def __init__(self, depth: int = 4, seed: int | None = None) -> None:
        super().__init__(seed)
        self.depth = depth

    def describe(self) -> str:
        return f"alphabeta:{self.depth}"

    def _negamax(self, s: ConnectFourState, depth: int, alpha: float, beta: float) -> float:
        p = s.player
        if len(s.history) == COLS * ROWS:
            return 0
        for c in ORDER:  # a win now beats everything below
            if s.is_winning_move(c):
                return WIN + depth
        if depth == 0:
            return c4_heuristic(s.bits[p], s.bits[1 - p])
        best = -math.inf
        for c in ORDER:
            if s.heights[c] >= ROWS:
                continue
            s.apply_action(c)
            v = -self._negamax(s, depth - 1, -beta, -alpha)
            s.undo()
            if v > best:
                best = v
            alpha = max(alpha, v)
            if alpha >= beta:
                break
        return best

    def raw_values(self, state: State) -> dict[int, float]:
        assert isinstance(state, ConnectFourState)
        s = state.clone()
        out: dict[int, float] = {}
        for c in s.legal_actions():
            if s.is_winning_move(c):
                out[c] = WIN + self.depth
                continue
            s.apply_action(c)
            out[c] = -self._negamax(s, self.depth - 1, -math.inf, math.inf)
            s.undo()
        return out

    @staticmethod
    def scaled(raw: dict[int, float]) -> dict[int, float]:
        """Raw search scores squashed into [-1, 1]: a forced win or loss is +-1, a heuristic score tanh(v / 100)."""
        return {a: max(-1.0, min(1.0, v / WIN)) if abs(v) >= WIN else math.tanh(v / 100) for a, v in raw.items()}

    def action_values(self, state: State) -> dict[int, float]:
        return self.scaled(self.raw_values(state))

    def step(self, state: State) -> int:
        return self._argmax(self.raw_values(state))


# --- UCT Monte Carlo tree search -------------------------------------------------------------------

class _Node:
    __slots__ = ("children", "untried", "n", "w", "mover")

    def __init__(self, state: State, mover: int) -> None:
        self.children: dict[int, _Node] = {}
        self.untried = state.legal_actions()
        self.n = 0
        self.w = 0.0  # total reward of ``mover``, the player who made the move into this node
        self.mover = mover


class MCTSAgent(SearchAgent):
    """UCT (Kocsis & Szepesvari): select by W/N + c sqrt(ln N_parent / N), expand one node, finish with
    a random playout, back up 1 / 0.5 / 0 for win / draw / loss. ``rollouts`` simulations per move.

    One implementation of the loop, :meth:`simulations`, serves both :meth:`search` and the search
    inspector (engine.rl.search_trace), which steps through it one simulation at a time."""

    name = "mcts"
    games = ("tictactoe", "connect4")
    kind = "uct"

    def __init__(self, rollouts: int = 200, c: float = 1.4, seed: int | None = None) -> None:
        super().__init__(seed)
        self.rollouts = rollouts
        self.c = c

    def describe(self) -> str:
        return f"mcts:{self.rollouts}"

    def _playout(self, state: State) -> int | None:
        if isinstance(state, ConnectFourState):
            return state.random_playout(self.rng)
        s = state.clone()
        while not s.is_terminal():
            s.apply_action(self.rng.choice(s.legal_actions()))
        return s.winner()

    def new_root(self, state: State) -> _Node:
        return _Node(state, 1 - state.current_player())

    def score(self, parent_n: int, child: _Node) -> float:
        """The UCT selection score of ``child`` (the formula :meth:`simulations` inlines)."""
        return child.w / child.n + self.c * math.sqrt(math.log(parent_n) / child.n)

    def simulations(self, root: _Node, state: State, trace: bool = False) -> Iterator[SimStep | None]:
        """One simulation per ``next``, for ever: select, expand, play out, back up. Yields a
        :class:`~engine.rl.search_trace.SimStep` when ``trace`` (else None, at no cost)."""
        rng, c = self.rng, self.c
        while True:
            node, s, path = root, state.clone(), [root]
            acts: list[int] = []
            while not node.untried and node.children:  # selection
                log_n = math.log(node.n)
                best, best_u = None, -1.0
                for a, ch in node.children.items():
                    u = ch.w / ch.n + c * math.sqrt(log_n / ch.n)
                    if u > best_u:
                        best, best_u = a, u
                assert best is not None
                s.apply_action(best)
                node = node.children[best]
                path.append(node)
                acts.append(best)
            selected = len(acts)
            if node.untried:  # expansion
                a = node.untried.pop(int(rng.random() * len(node.untried)))
                mover = s.current_player()
                s.apply_action(a)
                child = _Node(s, mover)
                node.children[a] = child
                node = child
                path.append(node)
                acts.append(a)
            terminal = s.is_terminal()
            winner = self._playout(s)  # simulation
            for nd in path:  # backup
                nd.n += 1
                nd.w += 0.5 if winner is None else (1.0 if winner == nd.mover else 0.0)
            if trace:
                backup = tuple(0.0 if winner is None else (1.0 if winner == nd.mover else -1.0) for nd in path)
                yield SimStep(tuple(acts), selected, len(acts) > selected, "terminal" if terminal else "playout",
                              backup[-1], backup, winner)
            else:
                yield None

    def search(self, state: State) -> dict[int, int]:
        root = self.new_root(state)
        for _ in islice(self.simulations(root, state), self.rollouts):
            pass
        return self.finish(root)

    def finish(self, root: _Node) -> dict[int, int]:
        """Fill ``last_visits`` and ``last_values`` from a searched root."""
        self.last_visits = {a: ch.n for a, ch in root.children.items()}
        self.last_values = {a: 2 * ch.w / ch.n - 1 for a, ch in root.children.items()}
        return self.last_visits

    def win_probability(self, state: State) -> float | None:
        visits = self.search(state)
        a = max(visits, key=visits.__getitem__)
        return (self.last_values[a] + 1) / 2
