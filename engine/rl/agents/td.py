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

With gammons (``outputs=5``, backgammon only) the network has GNU Backgammon's five outputs for the
player who just moved: P(win), P(win a gammon or better), P(win a backgammon), P(lose a gammon or worse),
P(lose a backgammon); moves are ranked by the cubeless equity 2 P(win) - 1 + P(wg) - P(lg) + P(wbg) - P(lbg)
(at 2 plies: the expectation of the five over the opponent's rolls, their reply the best by their equity).
The same TD(lambda) rule is applied to each output with its own trace, in player 0's frame (player 1's
outputs flipped: win' = 1 - win, wg' = lg, wbg' = lbg, lg' = wg, lbg' = wbg); the targets at the end are
the result's flags (win, gammon, backgammon for either side). TD-Gammon 2.x and GNU Backgammon learn
gammons this way (Tesauro 1995, "Temporal difference learning and TD-Gammon").

Inputs: Tesauro's encoding for backgammon (196 units), the two disc planes (84) for Connect Four.
The network is small (one sigmoid hidden layer) and runs in numpy: for batch-1 updates that is much
faster than torch, and the weights still save as safetensors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    """inputs -> hidden (sigmoid) -> ``outputs`` sigmoids, with the gradients needed for TD(lambda).

    One output: P(win). Five (GNU Backgammon's): P(win), P(win gammon or better), P(win backgammon),
    P(lose gammon or worse), P(lose backgammon), all for the player who just moved. ``w2`` is (hidden,)
    for one output (the shape older files have) and (outputs, hidden) for five.
    """

    def __init__(self, n_in: int, n_hidden: int, seed: int = 0, outputs: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.outputs = outputs
        self.W1 = rng.uniform(-0.1, 0.1, (n_hidden, n_in)).astype(np.float64)
        self.b1 = np.zeros(n_hidden)
        self.w2 = rng.uniform(-0.1, 0.1, n_hidden if outputs == 1 else (outputs, n_hidden))
        self.b2 = np.zeros(outputs)

    def params(self) -> list[np.ndarray]:
        return [self.W1, self.b1, self.w2, self.b2]

    def values(self, x: np.ndarray) -> np.ndarray:
        """(n,) for one output, (n, outputs) otherwise."""
        h = _sigmoid(x @ self.W1.T + self.b1)
        if self.outputs == 1:
            return _sigmoid(h @ self.w2 + self.b2[0])
        return _sigmoid(h @ self.w2.T + self.b2)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, list[np.ndarray]]:
        h = _sigmoid(self.W1 @ x + self.b1)
        v = float(_sigmoid(h @ self.w2 + self.b2[0]))
        dv = v * (1 - v)
        dh = dv * self.w2 * h * (1 - h)
        return v, [np.outer(dh, x), dh, dv * h, np.array([dv])]

    def outputs_and_grads(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For several outputs: o (k,), dO_k/db1 (k, hidden) (dO_k/dW1 is its outer product with x),
        sigmoid slopes o(1-o) (k,) and the hidden units h (hidden,) (dO_k/dw2[k] = slope_k h)."""
        h = _sigmoid(self.W1 @ x + self.b1)
        o = _sigmoid(self.w2 @ h + self.b2)
        dv = o * (1 - o)
        return o, dv[:, None] * self.w2 * (h * (1 - h))[None, :], dv, h


GAMMON_OUTPUTS = ("win", "win_gammon", "win_backgammon", "lose_gammon", "lose_backgammon")
_FLIP = np.array([0, 3, 4, 1, 2])
_ROLL_WEIGHTS = np.array(ROLL_PROBS)  # the other player's view: wg' = lg, wbg' = lbg, lg' = wg, lbg' = wbg


def flip_probs(p: np.ndarray) -> np.ndarray:
    """The same position's probabilities from the other player's view (last axis: 1 or 5 outputs)."""
    if p.shape[-1] == 1:
        return 1.0 - p
    out = p[..., _FLIP].copy()
    out[..., 0] = 1.0 - p[..., 0]
    return out


def equity(p: np.ndarray) -> np.ndarray:
    """Cubeless equity in points per game: 2 P(win) - 1 + P(wg) - P(lg) + P(wbg) - P(lbg) (one output:
    2 P(win) - 1)."""
    e = 2.0 * p[..., 0] - 1.0
    if p.shape[-1] == 5:
        e = e + p[..., 1] - p[..., 3] + p[..., 2] - p[..., 4]
    return e


def signed_flip_matrix(outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """(c, S) with flip_probs(p) = c + S p: how player 1's outputs enter player 0's frame."""
    c = np.zeros(outputs)
    c[0] = 1.0
    s = np.zeros((outputs, outputs))
    s[0, 0] = -1.0
    for j in range(1, outputs):
        s[j, _FLIP[j]] = 1.0
    return c, s


def result_probs(me: np.ndarray, opp: np.ndarray, outputs: int) -> np.ndarray:
    """Known outcome per afterstate, mover's view (n, outputs): the win (and gammon, backgammon) when
    the mover has borne off every checker, nan otherwise. ``me``, ``opp``: (n, 25) boards after the move."""
    done = me.sum(axis=1) == 0
    out = np.full((len(me), outputs), np.nan)
    if not done.any():  # the usual case, and a hot path
        return out
    if outputs == 1:
        out[done, 0] = 1.0
        return out
    gammon = opp.sum(axis=1) == 15  # the loser bore off none
    back = gammon & ((opp[:, 24] > 0) | (opp[:, 18:24].sum(axis=1) > 0))  # bar, or the winner's home board
    out[done] = np.stack([np.ones(len(me)), gammon, back, np.zeros(len(me)), np.zeros(len(me))], axis=1)[done]
    return out


def backgammon_afterstates(turns: list, outputs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Tesauro features of each turn's resulting position (mover's view), and the known outcome: 1 when
    the mover has borne off every checker, nan otherwise; (n,) for one output, (n, 5) with gammons."""
    me = np.array([t[1] for t in turns])
    opp = np.array([t[2] for t in turns])
    known = result_probs(me, opp, outputs)
    return tesauro_features(me, opp), (known[:, 0] if outputs == 1 else known)


class TDAgent(Agent):
    """Greedy 1-ply player over afterstate values; also the learner (see :meth:`train_episode`).

    ``outputs`` = 1 (P(win), moves ranked by it) or 5 for backgammon (gammons: moves ranked by the cubeless
    equity of the five probabilities, see :func:`equity`).
    """

    name = "td"
    games = ("backgammon", "connect4")

    def __init__(self, game: str = "backgammon", hidden: int = 80, lr: float = 0.1, lam: float = 0.7,
                 epsilon: float = 0.0, seed: int | None = None, outputs: int = 1) -> None:
        super().__init__(seed)
        if game not in self.games:
            raise UserError(f"TD(lambda) is for backgammon or connect4, not {game}.")
        if outputs not in (1, 5) or (outputs == 5 and game != "backgammon"):
            raise UserError(f"A TD network has 1 output (P(win)) or 5 (backgammon gammons), not {outputs}.")
        self.game = game
        self.n_in = 196 if game == "backgammon" else 84
        self.outputs = outputs
        self.net = ValueNet(self.n_in, hidden, seed or 0, outputs)
        self.hidden, self.lr, self.lam, self.epsilon = hidden, lr, lam, epsilon
        self.games_trained = 0
        self.plies = 1  # play (not training) search depth for backgammon: 1 or 2
        self.two_ply_candidates = 4  # moves, best by 1-ply, that 2-ply looks at

    def describe(self) -> str:
        ply = f", {self.plies}-ply" if self.game == "backgammon" else ""
        gam = ", gammons" if self.outputs == 5 else ""
        return f"td({self.game}, {self.hidden} hidden{gam}, {self.games_trained} games{ply})"

    # -- afterstates -----------------------------------------------------------------------------
    def afterstates(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """(features (n, inputs), known outcome per afterstate: 1 win, 0.5 draw, nan unknown; (n, 5)
        with gammons)."""
        if isinstance(state, BackgammonState):
            return backgammon_afterstates(state.legal_turns(), self.outputs)
        assert isinstance(state, ConnectFourState)
        p, legal = state.player, state.legal_actions()
        mine = [state.bits[p] | (1 << (c * H1 + state.heights[c])) for c in legal]
        x = c4_planes(mine, [state.bits[1 - p]] * len(legal))
        full = len(state.history) + 1 == ROWS * COLS
        known = np.array([1.0 if has_four(m) else (0.5 if full else np.nan) for m in mine])
        return x, known

    def afterstate_probs(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """(features, the network's outputs after each legal action (n, outputs), known results filled in)."""
        x, known = self.afterstates(state)
        v = self.net.values(x)
        p = np.where(np.isnan(known), v, known)
        return x, (p[:, None] if p.ndim == 1 else p)

    def afterstate_values(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        """(features, probability that the mover wins after each legal action)."""
        x, p = self.afterstate_probs(state)
        return x, p[:, 0]

    def _actions(self, state: State) -> list[int]:
        return state.legal_actions()

    def _score(self, p: np.ndarray) -> np.ndarray:
        """What moves are ranked by: P(win) for one output, the cubeless equity for five."""
        return p[..., 0] if self.outputs == 1 else equity(p)

    def move_estimates(self, state: State) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities (n, outputs) per legal action at the agent's search depth, ranking score (n,),
        which actions that depth examined (n,) bool). Moves 2-ply skips keep their 1-ply numbers and
        rank below every examined move."""
        _, p = self.afterstate_probs(state)
        score = self._score(p)
        examined = np.ones(len(p), dtype=bool)
        if self.plies < 2 or not isinstance(state, BackgammonState) or len(p) == 1:
            return p, score, examined
        out_p, out_s = p.copy(), score - 10.0  # below any examined equity (>= -3) or probability
        examined[:] = False
        turns = state.legal_turns()
        for i in np.argsort(-score, kind="stable")[: self.two_ply_candidates]:
            examined[i] = True
            if sum(turns[i][1]) == 0:  # bore off the last checker: the result is known
                out_s[i] = score[i]
                continue
            out_p[i] = self.reply_probs(turns[i][1], turns[i][2])
            out_s[i] = self._score(out_p[i])
        return out_p, out_s, examined

    def play_values(self, state: State) -> np.ndarray:
        """Each legal action's ranking score at the agent's search depth (P(win), or the equity)."""
        return self.move_estimates(state)[1]

    def reply_probs(self, me: tuple[int, ...], opp: tuple[int, ...]) -> np.ndarray:
        """E over the opponent's 21 rolls of their best reply's outputs, seen from the mover: the mover's
        2-ply probabilities (outputs,). The reply is the one the same network ranks first. All the replies
        to all the rolls go through the network as one batch."""
        per_roll = [legal_turns(opp, me, dice) for dice in ROLLS]  # the opponent moves next
        ends = np.cumsum([len(t) for t in per_roll])
        mine = np.array([t[1] for turns in per_roll for t in turns])  # the opponent's boards after replying
        theirs = np.array([t[2] for turns in per_roll for t in turns])
        known = result_probs(mine, theirs, self.outputs)
        values = self.net.values(tesauro_features(mine, theirs))
        q = np.where(np.isnan(known), values[:, None] if values.ndim == 1 else values, known)
        score = self._score(q)
        best = [start + int(np.argmax(score[start:end])) for start, end in zip(np.r_[0, ends[:-1]], ends, strict=True)]
        return _ROLL_WEIGHTS @ flip_probs(q[best])  # their best reply per roll, in our view, weighted

    def reply_expectation(self, me: tuple[int, ...], opp: tuple[int, ...]) -> float:
        """The mover's 2-ply win probability (see :meth:`reply_probs`)."""
        return float(self.reply_probs(me, opp)[0])

    def move_details(self, state: State) -> tuple[dict[int, float], dict[int, dict[str, float]]]:
        """(action_values, per examined action its five probabilities and equity) in one search."""
        p, _, examined = self.move_estimates(state)
        values, details = {}, {}
        for a, row, ok in zip(self._actions(state), p, examined, strict=True):
            if not ok:
                continue
            e = float(equity(row))
            values[a] = e
            if self.outputs == 5:
                details[a] = {**{k: float(x) for k, x in zip(GAMMON_OUTPUTS, row, strict=True)}, "equity": e}
        return values, details

    def action_values(self, state: State) -> dict[int, float]:
        """Values: 2 p - 1 in [-1, 1] for one output, the cubeless equity in [-3, 3] for five; at 2-ply
        only of the moves the look-ahead examined."""
        return self.move_details(state)[0]

    def step(self, state: State) -> int:
        legal = self._actions(state)
        if len(legal) == 1:
            return legal[0]
        v = self.play_values(state)
        best = v.max()
        return self.rng.choice([a for a, p in zip(legal, v, strict=True) if p >= best - 1e-12])

    def _best_win(self, state: State) -> float:
        _, p = self.afterstate_probs(state)
        return float(p[int(np.argmax(self._score(p))), 0])

    def win_probability(self, state: State) -> float | None:
        if state.is_terminal():
            return None
        if state.is_chance_node():  # before the roll: average over the rolls of the best reply
            total = 0.0
            for outcome, prob in state.chance_outcomes():
                s = state.clone()
                s.apply_action(outcome)
                total += prob * self._best_win(s)
            return total
        return self._best_win(state)

    # -- learning --------------------------------------------------------------------------------
    def _choose_training_move(self, v: np.ndarray) -> int:
        if self.epsilon and self.rng.random() < self.epsilon:
            return self.rng.randrange(len(v))
        best = v.max()
        return self.rng.choice([k for k in range(len(v)) if v[k] >= best - 1e-12])

    def _afterstate_equities(self, state: State) -> tuple[np.ndarray, np.ndarray]:
        x, p = self.afterstate_probs(state)
        return x, equity(p)

    def _self_play(self, state: State, score: Callable[[State], tuple[np.ndarray, np.ndarray]]
                   ) -> Iterator[tuple[int, np.ndarray]]:
        """Play ``state`` to the end, rolling the dice and choosing each move epsilon-greedily by ``score``
        (features and score of every afterstate); yields (mover, features of the chosen afterstate) after
        every move, the game's last one included (the caller reads ``state`` to tell)."""
        while not state.is_terminal():
            if state.is_chance_node():
                state.apply_random_chance(self.rng)
                continue
            mover = state.current_player()
            x, v = score(state)
            i = self._choose_training_move(v)
            state.apply_action(self._actions(state)[i])
            yield mover, x[i]

    def train_episode(self, state: State) -> tuple[int | None, float, int]:
        """Play one self-play game from ``state`` learning on every move; (winner, mean |delta|, moves)."""
        if self.outputs != 1:
            return self._train_episode_gammons(state)
        net, lr, lam = self.net, self.lr, self.lam
        traces = [np.zeros_like(p) for p in net.params()]
        prev_o: float | None = None
        deltas: list[float] = []
        moves = 0
        for mover, x_chosen in self._self_play(state, self.afterstate_values):
            moves += 1
            if state.is_terminal():
                break
            o, grads = net.value_and_grad(x_chosen)
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

    def _train_episode_gammons(self, state: State) -> tuple[int | None, float, int]:
        """TD(lambda) with one eligibility trace per output, all in player 0's frame: player 1's outputs
        enter as flip_probs(o) = c + S o (win' = 1 - win, wg' = lg, ...), so their gradients are S grad o.
        The targets at the end are player 0's result flags (win, gammon, backgammon either way)."""
        net, lr, lam, k = self.net, self.lr, self.lam, self.outputs
        c1, s1 = signed_flip_matrix(k)
        s0 = np.eye(k)
        e_w1 = np.zeros((k, *net.W1.shape))  # trace of output j: d O0_j / d W1
        e_b1 = np.zeros((k, *net.b1.shape))
        e_w2 = np.zeros((k, *net.w2.shape))
        e_b2 = np.zeros((k, k))
        prev: np.ndarray | None = None
        deltas: list[float] = []
        moves = 0

        def update(delta: np.ndarray) -> None:
            net.W1 += ((lr * delta) @ e_w1.reshape(k, -1)).reshape(net.W1.shape)
            net.b1 += lr * (delta @ e_b1)
            net.w2 += ((lr * delta) @ e_w2.reshape(k, -1)).reshape(net.w2.shape)
            net.b2 += lr * (delta @ e_b2)
            deltas.append(float(np.abs(delta).mean()))

        for mover, x_chosen in self._self_play(state, self._afterstate_equities):
            moves += 1
            if state.is_terminal():
                break
            o, dh, dv, h = net.outputs_and_grads(x_chosen)
            s = s0 if mover == 0 else s1
            o0 = o if mover == 0 else c1 + s1 @ o  # player 0's frame
            if prev is not None:
                update(o0 - prev)
            g_b1 = s @ dh  # (k, hidden): d O0_j / d b1
            e_w1 *= lam
            e_w1 += g_b1[:, :, None] * x_chosen[None, None, :]
            e_b1 *= lam
            e_b1 += g_b1
            e_w2 *= lam
            e_w2 += (s * dv[None, :])[:, :, None] * h[None, None, :]  # d O0_j / d w2[m] = S_jm dv_m h
            e_b2 *= lam
            e_b2 += s * dv[None, :]
            prev = o0
        winner = state.winner()
        if prev is not None and winner is not None:
            pts = int(abs(state.returns()[0]))
            won = np.array([1.0, pts >= 2, pts >= 3, 0.0, 0.0])
            update((won if winner == 0 else flip_probs(won)) - prev)
        self.games_trained += 1
        return winner, (sum(deltas) / len(deltas) if deltas else 0.0), moves

    # -- saving ----------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        header = {"game": self.game, "algo": "td", "hidden": self.hidden, "lr": self.lr, "lam": self.lam,
                  "epsilon": self.epsilon, "games_trained": self.games_trained, "plies": self.plies,
                  "outputs": self.outputs}
        save_tensor_agent(path, header, dict(zip(("W1", "b1", "w2", "b2"), self.net.params(), strict=True)))

    @classmethod
    def from_saved(cls, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> TDAgent:
        where = "the saved TD agent"
        game = choice(header.get("game"), "game", cls.games, where)
        hidden = whole(header.get("hidden"), "hidden", 1, MAX_HIDDEN, where)
        outputs = whole(header.get("outputs", 1), "outputs", 1, 5, where)
        if outputs not in ((1, 5) if game == "backgammon" else (1,)):
            raise UserError(f"{where} is damaged (a {game} network cannot have {outputs} outputs)")
        n_in = 196 if game == "backgammon" else 84
        expected = {"W1": (hidden, n_in), "b1": (hidden,),
                    "w2": (hidden,) if outputs == 1 else (outputs, hidden), "b2": (outputs,)}
        if not isinstance(arrays, dict) or set(arrays) != set(expected):
            raise UserError(f"{where} is damaged (its tensors are not W1, b1, w2, b2)")
        for name, shape in expected.items():  # before the network is built from `hidden`
            if tuple(arrays[name].shape) != shape:
                raise UserError(f"{where} is damaged ({name} has shape {tuple(arrays[name].shape)}, expected {shape})")
        agent = cls(game, hidden, real(header.get("lr"), "lr", 0.0, 10.0, where),
                    real(header.get("lam"), "lam", 0.0, 1.0, where),
                    real(header.get("epsilon", 0.0), "epsilon", 0.0, 1.0, where), outputs=outputs)
        for name, p in zip(("W1", "b1", "w2", "b2"), agent.net.params(), strict=True):
            p[...] = arrays[name]
        agent.games_trained = whole(header.get("games_trained", 0), "games_trained", 0, 10**15, where)
        agent.plies = whole(header.get("plies", 1), "plies", 1, 2, where)
        return agent


def with_gammons(agent: TDAgent, seed: int = 0) -> TDAgent:
    """A 5-output backgammon agent warm-started from a 1-output one: W1, b1 and the win head copied; the
    gammon heads small random weights with a bias at a typical rate (about 12% of games end in a gammon
    for either side, about 1% in a backgammon), for TD(lambda) to learn from."""
    if agent.game != "backgammon" or agent.outputs != 1:
        raise UserError("A gammon network is warm-started from a 1-output backgammon TD agent.")
    out = TDAgent("backgammon", agent.hidden, agent.lr, agent.lam, agent.epsilon, seed, outputs=5)
    rng = np.random.default_rng(seed)
    out.net.W1[...] = agent.net.W1
    out.net.b1[...] = agent.net.b1
    out.net.w2[...] = rng.uniform(-0.01, 0.01, out.net.w2.shape)
    out.net.w2[0] = agent.net.w2
    gammon, back = np.log(0.12 / 0.88), np.log(0.01 / 0.99)
    out.net.b2[...] = [agent.net.b2[0], gammon, back, gammon, back]
    out.games_trained, out.plies = agent.games_trained, agent.plies
    return out
