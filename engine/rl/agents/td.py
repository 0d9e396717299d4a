"""TD(lambda) with a neural value network learnt by self-play, as TD-Gammon (Tesauro 1992, 1995).

The network O(s) estimates the probability that the player who just moved into afterstate ``s`` wins.
Moves are chosen 1-ply: the legal move whose afterstate has the largest O. Learning follows the seed's
TD(lambda) rule, applied after every move:

    delta w_t = eta [r_{t+1} + O(w_t, s_{t+1}) - O(w_t, s_t)] sum_{tau<=t} lambda^{t-tau} grad_w O(s_tau)

with the sum kept as an eligibility trace e_t = lambda e_{t-1} + grad_w O(s_t). Written in player 0's
frame (O_0 = O for player 0's afterstates, 1 - O for player 1's) so one trace serves both sides;
r = 1 if player 0 wins, 0.5 for a draw, 0 otherwise, only at the end, and O(s_T) = 0.

Play can look one roll further (``plies=2``, as TD-Gammon 2.0 did): each of the best few moves by O is
scored by the expectation over the opponent's 21 rolls of 1 - O(the opponent's best reply), the reply
chosen by the same network. Training always plays 1-ply.

Inputs: Tesauro's encoding for backgammon (196 units), the two disc planes (84) for Connect Four.
The network is small (one sigmoid hidden layer) and runs in numpy: for batch-1 updates that is much
faster than torch, and the weights still save as safetensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import UserError
from engine.rl.agents.base import Agent, save_tensor_agent
from engine.rl.backgammon import ROLL_PROBS, ROLLS, BackgammonState, legal_turns, tesauro_features
from engine.rl.connect4 import COLS, H1, ROWS, ConnectFourState, has_four
from engine.rl.game import State
from engine.rl.limits import MAX_HIDDEN
from engine.validate import choice, real, whole

_C4_BITS = np.array([c * H1 + r for r in range(ROWS) for c in range(COLS)])  # row-major 6x7


def c4_planes(mine: list[int], theirs: list[int]) -> np.ndarray:
    """(n, 84): the given player's discs then the opponent's, from bitboards."""
    out = np.empty((len(mine), 2 * ROWS * COLS), dtype=np.float32)
    for k, bits in enumerate((mine, theirs)):
        raw = np.frombuffer(b"".join(b.to_bytes(7, "little") for b in bits), dtype=np.uint8)
        unpacked = np.unpackbits(raw.reshape(len(bits), 7), axis=1, bitorder="little")
        out[:, k * 42:(k + 1) * 42] = unpacked[:, _C4_BITS]
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class ValueNet:
    """inputs -> hidden (sigmoid) -> 1 (sigmoid), with the gradient needed for TD(lambda)."""

    def __init__(self, n_in: int, n_hidden: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.W1 = rng.uniform(-0.1, 0.1, (n_hidden, n_in)).astype(np.float64)
        self.b1 = np.zeros(n_hidden)
        self.w2 = rng.uniform(-0.1, 0.1, n_hidden)
        self.b2 = np.zeros(1)

    def params(self) -> list[np.ndarray]:
        return [self.W1, self.b1, self.w2, self.b2]

    def values(self, x: np.ndarray) -> np.ndarray:
        h = _sigmoid(x @ self.W1.T + self.b1)
        return _sigmoid(h @ self.w2 + self.b2[0])

    def value_and_grad(self, x: np.ndarray) -> tuple[float, list[np.ndarray]]:
        h = _sigmoid(self.W1 @ x + self.b1)
        v = float(_sigmoid(h @ self.w2 + self.b2[0]))
        dv = v * (1 - v)
        dh = dv * self.w2 * h * (1 - h)
        return v, [np.outer(dh, x), dh, dv * h, np.array([dv])]


def backgammon_afterstates(turns: list) -> tuple[np.ndarray, np.ndarray]:
    """Tesauro features of each turn's resulting position (mover's view), and the known outcome: 1 when
    the mover has borne off every checker, nan otherwise."""
    me = np.array([t[1] for t in turns])
    return tesauro_features(me, np.array([t[2] for t in turns])), np.where(me.sum(axis=1) == 0, 1.0, np.nan)


class TDAgent(Agent):
    """Greedy 1-ply player over afterstate values; also the learner (see :meth:`train_episode`)."""

    name = "td"
    games = ("backgammon", "connect4")

    def __init__(self, game: str = "backgammon", hidden: int = 80, lr: float = 0.1, lam: float = 0.7,
                 epsilon: float = 0.0, seed: int | None = None) -> None:
        super().__init__(seed)
        if game not in self.games:
            raise UserError(f"TD(lambda) is for backgammon or connect4, not {game}.")
        self.game = game
        self.n_in = 196 if game == "backgammon" else 84
        self.net = ValueNet(self.n_in, hidden, seed or 0)
        self.hidden, self.lr, self.lam, self.epsilon = hidden, lr, lam, epsilon
        self.games_trained = 0
        self.plies = 1  # play (not training) search depth for backgammon: 1 or 2
        self.two_ply_candidates = 4  # moves, best by 1-ply, that 2-ply looks at

    def describe(self) -> str:
        ply = f", {self.plies}-ply" if self.game == "backgammon" else ""
        return f"td({self.game}, {self.hidden} hidden, {self.games_trained} games{ply})"

    # -- afterstates -----------------------------------------------------------------------------
    def afterstates(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """(features (n, inputs), known outcome per afterstate: 1 win, 0.5 draw, nan unknown)."""
        if isinstance(state, BackgammonState):
            return backgammon_afterstates(state.legal_turns())
        assert isinstance(state, ConnectFourState)
        p, legal = state.player, state.legal_actions()
        mine = [state.bits[p] | (1 << (c * H1 + state.heights[c])) for c in legal]
        x = c4_planes(mine, [state.bits[1 - p]] * len(legal))
        full = len(state.history) + 1 == ROWS * COLS
        known = np.array([1.0 if has_four(m) else (0.5 if full else np.nan) for m in mine])
        return x, known

    def afterstate_values(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """(features, probability that the mover wins after each legal action)."""
        x, known = self.afterstates(state)
        v = self.net.values(x)
        return x, np.where(np.isnan(known), v, known)

    def _actions(self, state: State) -> list[int]:
        return state.legal_actions()

    def play_values(self, state: State) -> np.ndarray:
        """Probability that the mover wins after each legal action, at the agent's search depth."""
        _, v = self.afterstate_values(state)
        if self.plies < 2 or not isinstance(state, BackgammonState) or len(v) == 1:
            return v
        out = v - 2.0  # moves 2-ply does not look at stay below every move it does
        for i in np.argsort(-v)[: self.two_ply_candidates]:
            if v[i] == 1.0:  # bore off the last checker: a win, nothing to look ahead
                out[i] = 1.0
                continue
            _, me_after, opp_after = state.legal_turns()[i]
            out[i] = self.reply_expectation(me_after, opp_after)
        return out

    def reply_expectation(self, me: tuple[int, ...], opp: tuple[int, ...]) -> float:
        """E over the opponent's 21 rolls of 1 - O(their best reply): the mover's 2-ply win probability."""
        feats, knowns = zip(*(backgammon_afterstates(legal_turns(opp, me, dice))  # the opponent moves next
                              for dice in ROLLS), strict=True)
        values = self.net.values(np.concatenate(feats))  # one batch for all 21 rolls
        total, start = 0.0, 0
        for prob, known in zip(ROLL_PROBS, knowns, strict=True):
            v = values[start:start + len(known)]
            total += prob * (1.0 - float(np.where(np.isnan(known), v, known).max()))  # their best reply
            start += len(known)
        return total

    def action_values(self, state: State) -> dict[int, float]:
        """Values in [-1, 1] (2 p - 1); at 2-ply only of the moves the look-ahead examined."""
        v = self.play_values(state)
        return {a: float(2 * p - 1) for a, p in zip(self._actions(state), v, strict=True) if p >= 0.0}

    def step(self, state: State) -> int:
        legal = self._actions(state)
        if len(legal) == 1:
            return legal[0]
        v = self.play_values(state)
        best = v.max()
        return self.rng.choice([a for a, p in zip(legal, v, strict=True) if p >= best - 1e-12])

    def win_probability(self, state: State) -> float | None:
        if state.is_terminal():
            return None
        if state.is_chance_node():  # before the roll: average over the rolls of the best reply
            total = 0.0
            for outcome, prob in state.chance_outcomes():
                s = state.clone()
                s.apply_action(outcome)
                total += prob * float(self.afterstate_values(s)[1].max())
            return total
        return float(self.afterstate_values(state)[1].max())

    # -- learning --------------------------------------------------------------------------------
    def train_episode(self, state: State) -> tuple[int | None, float, int]:
        """Play one self-play game from ``state`` learning on every move; (winner, mean |delta|, moves)."""
        net, lr, lam = self.net, self.lr, self.lam
        traces = [np.zeros_like(p) for p in net.params()]
        prev_o: float | None = None
        deltas: list[float] = []
        moves = 0
        while not state.is_terminal():
            if state.is_chance_node():
                state.apply_random_chance(self.rng)
                continue
            mover = state.current_player()
            legal = self._actions(state)
            x, v = self.afterstate_values(state)
            if self.epsilon and self.rng.random() < self.epsilon:
                i = self.rng.randrange(len(legal))
            else:
                best = v.max()
                i = self.rng.choice([k for k in range(len(legal)) if v[k] >= best - 1e-12])
            state.apply_action(legal[i])
            moves += 1
            if state.is_terminal():
                break
            o, grads = net.value_and_grad(x[i])
            sign = 1.0 if mover == 0 else -1.0
            o0 = o if mover == 0 else 1.0 - o  # player 0's frame
            if prev_o is not None:
                delta = o0 - prev_o
                deltas.append(abs(delta))
                for p, e in zip(net.params(), traces, strict=True):
                    p += lr * delta * e
            for e, g in zip(traces, grads, strict=True):
                e *= lam
                e += sign * g
            prev_o = o0
        winner = state.winner()
        if prev_o is not None:
            r = 0.5 if winner is None else (1.0 if winner == 0 else 0.0)
            delta = r - prev_o
            deltas.append(abs(delta))
            for p, e in zip(net.params(), traces, strict=True):
                p += lr * delta * e
        self.games_trained += 1
        return winner, (sum(deltas) / len(deltas) if deltas else 0.0), moves

    # -- saving ----------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        header = {"game": self.game, "algo": "td", "hidden": self.hidden, "lr": self.lr, "lam": self.lam,
                  "epsilon": self.epsilon, "games_trained": self.games_trained, "plies": self.plies}
        save_tensor_agent(path, header, dict(zip(("W1", "b1", "w2", "b2"), self.net.params(), strict=True)))

    @classmethod
    def from_saved(cls, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> TDAgent:
        where = "the saved TD agent"
        game = choice(header.get("game"), "game", cls.games, where)
        hidden = whole(header.get("hidden"), "hidden", 1, MAX_HIDDEN, where)
        n_in = 196 if game == "backgammon" else 84
        expected = {"W1": (hidden, n_in), "b1": (hidden,), "w2": (hidden,), "b2": (1,)}
        if not isinstance(arrays, dict) or set(arrays) != set(expected):
            raise UserError(f"{where} is damaged (its tensors are not W1, b1, w2, b2)")
        for name, shape in expected.items():  # before the network is built from `hidden`
            if tuple(arrays[name].shape) != shape:
                raise UserError(f"{where} is damaged ({name} has shape {tuple(arrays[name].shape)}, expected {shape})")
        agent = cls(game, hidden, real(header.get("lr"), "lr", 0.0, 10.0, where),
                    real(header.get("lam"), "lam", 0.0, 1.0, where),
                    real(header.get("epsilon", 0.0), "epsilon", 0.0, 1.0, where))
        for name, p in zip(("W1", "b1", "w2", "b2"), agent.net.params(), strict=True):
            p[...] = arrays[name]
        agent.games_trained = whole(header.get("games_trained", 0), "games_trained", 0, 10**15, where)
        agent.plies = whole(header.get("plies", 1), "plies", 1, 2, where)
        return agent
