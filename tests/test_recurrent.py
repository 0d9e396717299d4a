"""The recurrent cells of engine.recurrent against references: torch's RNNCell and LSTMCell with the same
weights, and seed 000's GRU equations computed by hand in numpy; masks, the bidirectional halves, gates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.recurrent import BiRecurrent, GRUCell, LSTMCell, Recurrent, RNNCell

B, N_IN, H, T = 3, 5, 4, 6
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_rnn_cell_matches_torch_rnn_cell():
    ours = RNNCell(N_IN, H)
    ref = torch.nn.RNNCell(N_IN, H, nonlinearity="tanh")
    with torch.no_grad():
        ref.weight_ih.copy_(ours.w_x.weight)
        ref.bias_ih.copy_(ours.w_x.bias)
        ref.weight_hh.copy_(ours.w_v.weight)
        ref.bias_hh.zero_()  # ours has one threshold, on the input map
    x, v = torch.randn(B, N_IN), torch.randn(B, H)
    torch.testing.assert_close(ours(x, v), ref(x, v))


def test_lstm_cell_matches_torch_lstm_cell_with_the_gate_order_mapped():
    ours = LSTMCell(N_IN, H)
    ref = torch.nn.LSTMCell(N_IN, H)
    # ours: blocks (i, f, o, c~); torch: (i, f, g, o) with g the candidate c~
    order = torch.cat([torch.arange(k * H, (k + 1) * H) for k in (0, 1, 3, 2)])
    with torch.no_grad():
        ref.weight_ih.copy_(ours.w_x.weight[order])
        ref.bias_ih.copy_(ours.w_x.bias[order])
        ref.weight_hh.copy_(ours.w_v.weight[order])
        ref.bias_hh.zero_()
    x, v, c = torch.randn(B, N_IN), torch.randn(B, H), torch.randn(B, H)
    (v1, c1), gates = ours.step(x, (v, c))
    v2, c2 = ref(x, (v, c))
    torch.testing.assert_close(v1, v2)
    torch.testing.assert_close(c1, c2)
    assert set(gates) == {"i", "f", "o"}
    # the forget gate starts open: bias 1
    assert torch.all(ours.w_x.bias[H:2 * H] == 1.0)


def sigma(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def test_gru_cell_is_seed_000s_equations():
    cell = GRUCell(N_IN, H)
    W = {k: p.detach().double().numpy() for k, p in cell.named_parameters()}
    wx, bx = W["w_x.weight"], W["w_x.bias"]  # (3H, n_in), (3H,): rows z, r, h
    w_zx, w_rx, w_hx = wx[:H], wx[H:2 * H], wx[2 * H:]
    b_z, b_r, b_h = bx[:H], bx[H:2 * H], bx[2 * H:]
    w_zv, w_rv = W["w_v.weight"][:H], W["w_v.weight"][H:]
    w_hv = W["w_hv.weight"]
    x, v = np.random.default_rng(1).normal(size=(2, B, max(N_IN, H)))
    x, v = x[:, :N_IN], v[:, :H]
    # z_m(t) = sigma(sum_k w_mk^(zx) x_k(t) + sum_j w_mj^(zv) V_j(t-1)) (+ threshold), and r likewise
    z = sigma(x @ w_zx.T + v @ w_zv.T + b_z)
    r = sigma(x @ w_rx.T + v @ w_rv.T + b_r)
    # h_i(t) = g(sum_k w_ik^(hx) x_k(t) + sum_j w_ij^(hv) r_j(t) V_j(t-1)), g = tanh
    h = np.tanh(x @ w_hx.T + (r * v) @ w_hv.T + b_h)
    # V_i(t) = [1 - z_i(t)] h_i(t) + z_i(t) V_i(t-1)
    expected = (1 - z) * h + z * v
    new, gates = cell.double().step(torch.from_numpy(x), torch.from_numpy(v))
    np.testing.assert_allclose(new.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gates["z"].detach().numpy(), z, rtol=1e-12)
    np.testing.assert_allclose(gates["r"].detach().numpy(), r, rtol=1e-12)


def test_the_unit_short_cuts_when_z_is_1():
    cell = GRUCell(N_IN, H)
    with torch.no_grad():
        cell.w_x.bias[:H] = 50.0  # z = sigma(50) = 1
    v = torch.randn(B, H)
    torch.testing.assert_close(cell(torch.randn(B, N_IN), v), v)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_masked_steps_carry_the_state(kind):
    layer = Recurrent(kind, N_IN, H)
    x = torch.randn(B, T, N_IN)
    lengths = [T, 4, 2]
    mask = torch.tensor([[1] * n + [0] * (T - n) for n in lengths])
    out, last, _ = layer(x, mask=mask)
    for b, n in enumerate(lengths):
        short_out, short_last, _ = layer(x[b:b + 1, :n])
        torch.testing.assert_close(out[b, :n], short_out[0])
        for s, ref in zip(last if isinstance(last, tuple) else (last,),
                          short_last if isinstance(short_last, tuple) else (short_last,), strict=True):
            torch.testing.assert_close(s[b], ref[0])
        for t in range(n, T):  # past its end the output stays the last real one
            torch.testing.assert_close(out[b, t], short_out[0, -1])


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_bidirectional_halves(kind):
    bi = BiRecurrent(kind, N_IN, H)
    x = torch.randn(B, T, N_IN)
    out, (last_f, last_b), gates = bi(x, gates=True)
    assert out.shape == (B, T, 2 * H)
    fwd, _, _ = bi.fwd(x)
    torch.testing.assert_close(out[..., :H], fwd)
    # the backward half is the same cell run over the reversed sequence, read back in order
    rev, rev_last, _ = bi.bwd(x.flip(1))
    torch.testing.assert_close(out[..., H:], rev.flip(1))
    torch.testing.assert_close(bi.bwd.cell.output(last_b), bi.bwd.cell.output(rev_last))
    # the backward half at position 0 has seen the whole sequence, the forward half at position 0 only x(0)
    first_only, _, _ = bi.fwd(x[:, :1])
    torch.testing.assert_close(out[:, 0, :H], first_only[:, 0])
    assert set(gates) == {f"{g}_{d}" for g in bi.fwd.cell.gates for d in ("fwd", "bwd")}


@pytest.mark.parametrize("kind, names", [("gru", {"z", "r"}), ("lstm", {"i", "f", "o"}), ("rnn", set())])
def test_gates_over_time_have_shape_b_t_h_and_lie_in_0_1(kind, names):
    layer = Recurrent(kind, N_IN, H)
    out, _, gates = layer(torch.randn(B, T, N_IN) * 3, gates=True)
    assert out.shape == (B, T, H) and set(gates) == names
    for g in gates.values():
        assert g.shape == (B, T, H)
        assert torch.all((g > 0) & (g < 1))
    _, _, none = layer(torch.randn(B, T, N_IN))
    assert none == {}


def test_gradient_flows_through_time():
    layer = Recurrent("lstm", N_IN, H)
    x = torch.randn(B, T, N_IN, requires_grad=True)
    out, _, _ = layer(x)
    out[:, -1].sum().backward()
    assert torch.all(x.grad[:, 0].abs().sum(-1) > 0)  # the last output depends on the first input
