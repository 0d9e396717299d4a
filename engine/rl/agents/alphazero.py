"""Self-play with search for Connect Four, in the spirit of AlphaGo Zero (Silver et al. 2017).

A small policy/value network f(s) = (p, v) guides Monte Carlo tree search (PUCT):

    a* = argmax_a  Q(s, a) + c_puct P(s, a) sqrt(N(s)) / (1 + N(s, a))

with P from the network, Q the mean backed-up value and N the visit counts; leaves are valued by v
(exact +1 / 0 at finished games). Self-play games produce targets: the visit distribution pi for the
policy head and the final result z (+1 win, 0 draw, -1 loss, the seed's rewards) for the value head;
the loss is (z - v)^2 - pi . log p. Search then uses the improved network: policy iteration by search.

Training uses torch; the search runs the same weights in numpy (batch-1 calls are far cheaper there).
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import UserError
from engine.rl.agents.base import SearchAgent, save_tensor_agent
from engine.rl.agents.td import c4_planes
from engine.rl.connect4 import COLS, ROWS, ConnectFourState
from engine.rl.game import State
from engine.rl.limits import MAX_HIDDEN, MAX_SIMS
from engine.rl.search_trace import SimStep
from engine.validate import real, whole

N_IN = 2 * ROWS * COLS


class PolicyValueNet(nn.Module):
    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_IN, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.policy = nn.Linear(hidden, COLS)
        self.value = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.policy(h), torch.tanh(self.value(h)).squeeze(-1)


class _NumpyNet:
    """The same network's forward pass in numpy, for one position at a time during search."""

    def __init__(self, net: PolicyValueNet) -> None:
        sd = {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
        self.W1, self.b1 = sd["body.0.weight"].T.copy(), sd["body.0.bias"]
        self.W2, self.b2 = sd["body.2.weight"].T.copy(), sd["body.2.bias"]
        self.Wp, self.bp = sd["policy.weight"].T.copy(), sd["policy.bias"]
        self.wv, self.bv = sd["value.weight"][0].copy(), float(sd["value.bias"][0])

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, float]:
        h = np.maximum(x @ self.W1 + self.b1, 0)
        h = np.maximum(h @ self.W2 + self.b2, 0)
        return h @ self.Wp + self.bp, math.tanh(float(h @ self.wv) + self.bv)


class _PNode:
    __slots__ = ("prior", "n", "w", "children")

    def __init__(self, prior: float) -> None:
        self.prior = prior
        self.n = 0
        self.w = 0.0  # summed value for the player who chose the move into this node
        self.children: dict[int, _PNode] = {}


def planes(state: ConnectFourState) -> np.ndarray:
    p = state.player
    return c4_planes([state.bits[p]], [state.bits[1 - p]])[0]


class AlphaZeroAgent(SearchAgent):
    """PUCT search guided by the policy/value network; ``sims`` simulations per move."""

    name = "selfplay"
    games = ("connect4",)
    kind = "puct"

    def __init__(self, hidden: int = 256, sims: int = 200, c_puct: float = 1.5,
                 seed: int | None = None, solver: bool = True) -> None:
        super().__init__(seed)
        torch.manual_seed(seed or 0)
        self.hidden, self.sims, self.c_puct = hidden, sims, c_puct
        # a leaf whose player to move has a winning drop is valued exactly (-1 for the mover into it)
        self.solver = solver
        self.net = PolicyValueNet(hidden)
        self.fast = _NumpyNet(self.net)
        self.games_trained = 0

    def describe(self) -> str:
        return f"selfplay({self.sims} sims, {self.games_trained} games)"

    def sync(self) -> None:
        """Copy the torch weights into the numpy copy used by search (after training steps)."""
        self.fast = _NumpyNet(self.net)

    def evaluate(self, state: ConnectFourState) -> tuple[dict[int, float], float]:
        """Priors over legal moves and the value for the player to move."""
        logits, v = self.fast(planes(state))
        legal = state.legal_actions()
        lg = logits[legal]
        e = np.exp(lg - lg.max())
        e /= e.sum()
        return dict(zip(legal, e.tolist(), strict=True)), v

    def new_root(self, state: State, noise: float = 0.0) -> _PNode:
        """The root with its children and their priors (mixed with Dirichlet noise when ``noise``)."""
        assert isinstance(state, ConnectFourState)
        root = _PNode(1.0)
        priors, _ = self.evaluate(state)
        if noise:  # Dirichlet noise at the root keeps self-play exploring
            d = np.random.default_rng(self.rng.getrandbits(32)).dirichlet([1.0] * len(priors))
            priors = {a: (1 - noise) * p + noise * float(x)
                      for (a, p), x in zip(priors.items(), d, strict=True)}
        root.children = {a: _PNode(p) for a, p in priors.items()}
        return root

    def score(self, parent_n: int, child: _PNode) -> float:
        """The PUCT selection score of ``child`` (the formula :meth:`simulations` inlines; sqrt(N + 1) so that
        the first simulation from a fresh node follows the priors)."""
        q = child.w / child.n if child.n else 0.0
        return q + self.c_puct * child.prior * math.sqrt(parent_n + 1) / (1 + child.n)

    def simulations(self, root: _PNode, state: State, trace: bool = False) -> Iterator[SimStep | None]:
        """One PUCT simulation per ``next``, for ever: select to a leaf, value it (exactly when the game
        is over or the mover into it loses at once, else by the network, whose priors expand it), back
        up. Yields a :class:`~engine.rl.search_trace.SimStep` when ``trace`` (else None)."""
        assert isinstance(state, ConnectFourState)
        c = self.c_puct
        while True:
            node, s, path = root, state.clone(), [root]
            acts: list[int] = []
            while node.children:
                sq = math.sqrt(node.n + 1)
                best, best_u = -1, -math.inf
                for a, ch in node.children.items():
                    q = ch.w / ch.n if ch.n else 0.0
                    u = q + c * ch.prior * sq / (1 + ch.n)
                    if u > best_u:
                        best, best_u = a, u
                s.apply_action(best)
                node = node.children[best]
                path.append(node)
                acts.append(best)
                if s.is_terminal():
                    break
            expanded = False
            if s.is_terminal():
                kind, value = "terminal", 0.0 if s.winner() is None else 1.0  # for the player who just moved
            elif self.solver and any(s.is_winning_move(a) for a in s.legal_actions()):
                kind, value = "solver", -1.0  # the player to move wins next move: exact, no need to ask the net
            else:
                pri, v = self.evaluate(s)
                node.children = {a: _PNode(p) for a, p in pri.items()}
                kind, value, expanded = "network", -v, True
            leaf_value = value
            for nd in reversed(path):
                nd.n += 1
                nd.w += value
                value = -value
            if trace:
                backup = tuple(leaf_value if (len(path) - 1 - i) % 2 == 0 else -leaf_value for i in range(len(path)))
                yield SimStep(tuple(acts), len(acts), expanded, kind, leaf_value, backup, None)
            else:
                yield None

    def search(self, state: State, sims: int | None = None, noise: float = 0.0) -> dict[int, int]:
        root = self.new_root(state, noise)
        for _ in islice(self.simulations(root, state), sims or self.sims):
            pass
        return self.finish(root)

    def finish(self, root: _PNode) -> dict[int, int]:
        """Fill ``last_visits`` and ``last_values`` from a searched root."""
        self.last_visits = {a: ch.n for a, ch in root.children.items()}
        self.last_values = {a: (ch.w / ch.n if ch.n else 0.0) for a, ch in root.children.items()}
        return self.last_visits

    def win_probability(self, state: State) -> float | None:
        if state.is_terminal():
            return None
        assert isinstance(state, ConnectFourState)
        return (self.evaluate(state)[1] + 1) / 2

    def save(self, path: Path) -> None:
        header = {"game": "connect4", "algo": "selfplay", "hidden": self.hidden, "sims": self.sims,
                  "c_puct": self.c_puct, "games_trained": self.games_trained}
        save_tensor_agent(path, header, {k: v.detach().numpy() for k, v in self.net.state_dict().items()})

    @classmethod
    def from_saved(cls, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> AlphaZeroAgent:
        where = "the saved self-play agent"
        hidden = whole(header.get("hidden"), "hidden", 1, MAX_HIDDEN, where)
        expected = {"body.0.weight": (hidden, N_IN), "body.0.bias": (hidden,), "body.2.weight": (hidden, hidden),
                    "body.2.bias": (hidden,), "policy.weight": (COLS, hidden), "policy.bias": (COLS,),
                    "value.weight": (1, hidden), "value.bias": (1,)}
        if not isinstance(arrays, dict) or set(arrays) != set(expected):
            raise UserError(f"{where} is damaged (its tensors are not those of a policy/value network)")
        for name, shape in expected.items():  # before the network is built from `hidden`
            if tuple(arrays[name].shape) != shape:
                raise UserError(f"{where} is damaged ({name} has shape {tuple(arrays[name].shape)}, expected {shape})")
        agent = cls(hidden, whole(header.get("sims"), "sims", 1, MAX_SIMS, where),
                    real(header.get("c_puct", 1.5), "c_puct", 0.0, 100.0, where, lo_open=True))
        agent.net.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in arrays.items()})
        agent.games_trained = whole(header.get("games_trained", 0), "games_trained", 0, 10**15, where)
        agent.sync()
        return agent


class SelfPlayTrainer:
    """Plays self-play games with noisy search and trains the network on a replay window."""

    def __init__(self, agent: AlphaZeroAgent, hp: dict[str, Any], rng: random.Random) -> None:
        self.agent, self.rng = agent, rng
        self.sims = int(hp.get("sims", 100))
        self.temp_moves = int(hp.get("temp_moves", 8))
        self.train_every = int(hp.get("train_every", 5))
        self.batches = int(hp.get("batches", 10))
        self.batch_size = int(hp.get("batch_size", 256))
        self.buffer: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=int(hp.get("buffer", 40_000)))
        self.opt = torch.optim.Adam(agent.net.parameters(), lr=float(hp.get("lr", 1e-3)), weight_decay=1e-4)
        self.last_loss = (0.0, 0.0)

    def play_game(self) -> tuple[list[tuple[np.ndarray, np.ndarray, int]], int | None]:
        ag = self.agent
        state = ConnectFourState()
        samples = []
        while not state.is_terminal():
            visits = ag.search(state, self.sims, noise=0.25)
            pi = np.zeros(COLS, dtype=np.float32)
            for a, n in visits.items():
                pi[a] = n
            pi /= pi.sum()
            samples.append((planes(state), pi, state.player))
            if len(state.history) < self.temp_moves:  # temperature 1 early: varied openings
                a = self.rng.choices(list(visits), weights=list(visits.values()))[0]
            else:
                a = max(visits, key=visits.__getitem__)
            state.apply_action(a)
        return samples, state.winner()

    def train_steps(self) -> None:
        net = self.agent.net
        data = list(self.buffer)
        pol_sum = val_sum = 0.0
        for _ in range(self.batches):
            batch = [data[int(self.rng.random() * len(data))] for _ in range(min(self.batch_size, len(data)))]
            x = torch.from_numpy(np.stack([b[0] for b in batch]))
            pi = torch.from_numpy(np.stack([b[1] for b in batch]))
            z = torch.tensor([b[2] for b in batch], dtype=torch.float32)
            logits, v = net(x)
            policy_loss = -(pi * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
            value_loss = ((z - v) ** 2).mean()
            self.opt.zero_grad()
            (policy_loss + value_loss).backward()
            self.opt.step()
            pol_sum += policy_loss.item()
            val_sum += value_loss.item()
        self.last_loss = (pol_sum / self.batches, val_sum / self.batches)
        self.agent.sync()

    def episode(self, eps: float = 0.0) -> dict[str, Any]:
        samples, winner = self.play_game()
        for x, pi, player in samples:
            z = 0.0 if winner is None else (1.0 if winner == player else -1.0)
            self.buffer.append((x, pi, z))
            # left-right mirror: the same position seen in a mirror, twice the data for free
            xm = x.reshape(2, ROWS, COLS)[:, :, ::-1].reshape(-1).copy()
            self.buffer.append((xm, pi[::-1].copy(), z))
        self.agent.games_trained += 1
        if self.agent.games_trained % self.train_every == 0:
            self.train_steps()
        return {"td_error": self.last_loss[1], "policy_loss": self.last_loss[0], "moves": len(samples)}
