"""Recurrent networks, the models transformers replaced (seed 000: "Training recurrent networks", the
vanishing-gradient problem and its cure by gated units; seed 003: RNN, LSTM, GRU).

Written out gate by gate, so every internal can be shown (torch's fused ``nn.GRU`` hides the gates):

- :class:`RNNCell`, the plain recurrent unit: V(t) = tanh(W^(hx) x(t) + W^(hv) V(t-1) + b);
- :class:`GRUCell`, seed 000's gated unit (Cho et al. 2014), in the seed's names:
  z(t) = sigma(W^(zx) x(t) + W^(zv) V(t-1))            update gate ("the unit short cuts when z = 1")
  r(t) = sigma(W^(rx) x(t) + W^(rv) V(t-1))            reset gate
  h(t) = g(W^(hx) x(t) + W^(hv) (r(t) * V(t-1)))       candidate, g = tanh
  V(t) = (1 - z(t)) h(t) + z(t) V(t-1)
  (each with a threshold, "weights and thresholds are trained in the usual fashion");
- :class:`LSTMCell` (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000):
  i, f, o = sigma(W x(t) + U V(t-1) + b), c~ = tanh(...), c(t) = f c(t-1) + i c~, V(t) = o tanh(c(t)).

:class:`Recurrent` unrolls a cell over a sequence (back-propagation through time is autograd through the
unrolled loop) and can return every gate at every step; :class:`BiRecurrent` runs one forward and one
backward over the same sequence (seed 000: "bi-directional recurrent neural nets") and concatenates them.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

CELLS = ("rnn", "gru", "lstm")

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # V (B, H), or (V, c) for the LSTM


class _Cell(nn.Module):
    """x (B, n_in) and the previous state -> the new state; ``gates`` names what :meth:`step` can expose."""

    gates: tuple[str, ...] = ()
    n_blocks = 1  # how many (H)-sized affine maps of [x, V] the cell computes at once

    def __init__(self, n_in: int, n_hidden: int) -> None:
        super().__init__()
        self.n_in, self.n_hidden = n_in, n_hidden
        self.w_x = nn.Linear(n_in, self.n_blocks * n_hidden)  # W^(.x) and the thresholds
        self.w_v = nn.Linear(n_hidden, self.n_blocks * n_hidden, bias=False)  # W^(.v)
        bound = 1.0 / math.sqrt(n_hidden)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)  # torch's RNN initialisation

    def initial(self, batch: int, device: torch.device | None = None) -> State:
        return torch.zeros(batch, self.n_hidden, device=device)

    @staticmethod
    def output(state: State) -> torch.Tensor:
        """V(t), what the layer above and the decoder read."""
        return state[0] if isinstance(state, tuple) else state

    def step(self, x: torch.Tensor, state: State) -> tuple[State, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, state: State) -> State:
        return self.step(x, state)[0]


class RNNCell(_Cell):
    """V(t) = tanh(W^(hx) x(t) + W^(hv) V(t-1) + b): no short cut, so gradients shrink at every step."""

    def step(self, x: torch.Tensor, state: State) -> tuple[State, dict[str, torch.Tensor]]:
        return torch.tanh(self.w_x(x) + self.w_v(state)), {}


class GRUCell(_Cell):
    """Seed 000's gated unit (see the module docstring): gates z (update) and r (reset), each (B, H)."""

    gates = ("z", "r")
    n_blocks = 3

    def __init__(self, n_in: int, n_hidden: int) -> None:
        super().__init__(n_in, n_hidden)
        # W^(hv) acts on r * V(t-1), not on V(t-1), so it cannot share the fused map of z and r
        self.w_v = nn.Linear(n_hidden, 2 * n_hidden, bias=False)
        self.w_hv = nn.Linear(n_hidden, n_hidden, bias=False)
        bound = 1.0 / math.sqrt(n_hidden)
        for p in (self.w_v.weight, self.w_hv.weight):
            nn.init.uniform_(p, -bound, bound)

    def step(self, x: torch.Tensor, state: State) -> tuple[State, dict[str, torch.Tensor]]:
        v = state
        ax_z, ax_r, ax_h = self.w_x(x).chunk(3, dim=-1)  # 3 x (B, H)
        av_z, av_r = self.w_v(v).chunk(2, dim=-1)
        z = torch.sigmoid(ax_z + av_z)
        r = torch.sigmoid(ax_r + av_r)
        h = torch.tanh(ax_h + self.w_hv(r * v))
        return (1 - z) * h + z * v, {"z": z, "r": r}


class LSTMCell(_Cell):
    """Input, forget and output gates and a memory cell c; the state is (V, c)."""

    gates = ("i", "f", "o")
    n_blocks = 4

    def __init__(self, n_in: int, n_hidden: int) -> None:
        super().__init__(n_in, n_hidden)
        with torch.no_grad():  # forget bias 1: remember by default at the start (Jozefowicz et al. 2015)
            self.w_x.bias[n_hidden:2 * n_hidden].fill_(1.0)

    def initial(self, batch: int, device: torch.device | None = None) -> State:
        zero = torch.zeros(batch, self.n_hidden, device=device)
        return zero, zero.clone()

    def step(self, x: torch.Tensor, state: State) -> tuple[State, dict[str, torch.Tensor]]:
        v, c = state
        a_i, a_f, a_o, a_c = (self.w_x(x) + self.w_v(v)).chunk(4, dim=-1)  # 4 x (B, H)
        i, f, o = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.sigmoid(a_o)
        c = f * c + i * torch.tanh(a_c)
        return (o * torch.tanh(c), c), {"i": i, "f": f, "o": o}


def make_cell(kind: str, n_in: int, n_hidden: int) -> _Cell:
    if kind not in CELLS:
        raise ValueError(f"unknown cell {kind!r}; use one of {', '.join(CELLS)}")
    return {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}[kind](n_in, n_hidden)


class Recurrent(nn.Module):
    """A cell unrolled over time: x (B, T, n_in) -> outputs V (B, T, H) and the last state.

    ``mask`` (B, T), 1 for real steps: at padded steps the state is carried over unchanged, so the last
    state of each sequence is its state after its own last token. ``gates=True`` also returns
    {gate: (B, T, H)}."""

    def __init__(self, kind: str, n_in: int, n_hidden: int) -> None:
        super().__init__()
        self.kind = kind
        self.cell = make_cell(kind, n_in, n_hidden)

    def forward(self, x: torch.Tensor, state: State | None = None, mask: torch.Tensor | None = None,
                reverse: bool = False, gates: bool = False
                ) -> tuple[torch.Tensor, State, dict[str, torch.Tensor]]:
        B, T, _ = x.shape
        state = self.cell.initial(B, x.device) if state is None else state
        outputs: list[torch.Tensor] = [x.new_zeros(0)] * T
        seen: dict[str, list[torch.Tensor]] = {g: [x.new_zeros(0)] * T for g in self.cell.gates} if gates else {}
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            new, g = self.cell.step(x[:, t], state)
            if mask is not None:
                keep = mask[:, t].to(x.dtype).unsqueeze(-1)  # (B, 1)
                new = _blend(new, state, keep)
            state = new
            outputs[t] = self.cell.output(state)
            for name in seen:
                seen[name][t] = g[name]
        out = torch.stack(outputs, dim=1)  # (B, T, H)
        return out, state, {name: torch.stack(v, dim=1) for name, v in seen.items()}


class BiRecurrent(nn.Module):
    """A forward and a backward :class:`Recurrent` over the same sequence: outputs (B, T, 2H), each
    position seeing its whole left context (forward half) and right context (backward half)."""

    def __init__(self, kind: str, n_in: int, n_hidden: int) -> None:
        super().__init__()
        self.fwd = Recurrent(kind, n_in, n_hidden)
        self.bwd = Recurrent(kind, n_in, n_hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, gates: bool = False
                ) -> tuple[torch.Tensor, tuple[State, State], dict[str, torch.Tensor]]:
        out_f, last_f, g_f = self.fwd(x, mask=mask, gates=gates)
        out_b, last_b, g_b = self.bwd(x, mask=mask, reverse=True, gates=gates)
        seen = {f"{k}_fwd": v for k, v in g_f.items()} | {f"{k}_bwd": v for k, v in g_b.items()}
        return torch.cat([out_f, out_b], dim=-1), (last_f, last_b), seen


def _blend(new: State, old: State, keep: torch.Tensor) -> State:
    if isinstance(new, tuple):
        return tuple(keep * n + (1 - keep) * o for n, o in zip(new, old, strict=True))  # type: ignore[return-value]
    return keep * new + (1 - keep) * old
