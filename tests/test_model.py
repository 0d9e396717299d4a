"""The transformer against the lecture's equations (seed 002, Eq. 11.10-11.21)."""

import math

import pytest
import torch
import torch.nn.functional as F

from engine.errors import UserError
from engine.model import GPT, ModelConfig, Probe, sinusoidal_positions

CONFIGS = [
    dict(norm="pre", positional="learned", activation="gelu", tied=True),
    dict(norm="post", positional="sinusoidal", activation="relu", tied=False),
    dict(norm="post", positional="learned", activation="gelu", tied=True),
]


def make(**kw) -> GPT:
    torch.manual_seed(0)
    return GPT(ModelConfig(vocab_size=50, context=24, d=32, H=4, L=3, **kw)).eval()


def test_linear_maps_have_no_bias_by_default_as_in_the_lecture():
    model = make()
    assert model.blocks[0].attn.W_qkv.bias is None and model.blocks[0].ffn.W_1.bias is None
    assert model.blocks[0].ln_1.bias is not None  # LayerNorm keeps beta (Eq. 11.18)


@pytest.mark.parametrize("kw", CONFIGS)
def test_probed_and_fused_paths_agree(kw):
    model = make(**kw)
    x = torch.randint(0, 50, (2, 24))
    fused, _, none = model(x)
    probed, _, trace = model(x, probe=Probe(attention=True, scores=True, qkv=True, residual=True))
    assert none is None
    torch.testing.assert_close(fused, probed, atol=1e-5, rtol=0)
    att = trace.stacked_attention()
    assert att.shape == (2, 3, 4, 24, 24)  # (B, L, H, T, T)
    torch.testing.assert_close(att.sum(-1), torch.ones(2, 3, 4, 24), atol=1e-6, rtol=0)
    upper = torch.ones(24, 24, dtype=torch.bool).triu(1)
    assert (att[..., upper] == 0).all(), "a weight above the diagonal is not exactly 0"
    assert all(torch.isinf(s[..., upper]).all() for s in trace.scores)
    assert trace.q[0].shape == (2, 4, 24, 8) and len(trace.residual) == 4  # embeddings + L blocks


def test_attention_is_eq_11_13_and_11_14():
    """Recompute layer 0 of a post-LN model by hand from its weights and compare."""
    model = make(norm="post", positional="learned", activation="relu", tied=True, bias=True)
    x_ids = torch.randint(0, 50, (1, 10))
    _, _, trace = model(x_ids, probe=Probe(qkv=True, residual=True))
    blk = model.blocks[0]
    x = trace.residual[0][0]  # (T, d): embeddings + positions
    d, H, d_k = 32, 4, 8
    W = blk.attn.W_qkv.weight.T  # (d, 3d)
    b = blk.attn.W_qkv.bias
    out = torch.zeros(10, d)
    for h in range(H):
        Wq, Wk, Wv = (W[:, i * d + h * d_k: i * d + (h + 1) * d_k] for i in range(3))
        bq, bk, bv = (b[i * d + h * d_k: i * d + (h + 1) * d_k] for i in range(3))
        Q, K, V = x @ Wq + bq, x @ Wk + bk, x @ Wv + bv  # Eq. 11.10-11.12
        s = (Q @ K.T) / math.sqrt(d_k)
        s = s.masked_fill(torch.ones(10, 10).triu(1).bool(), float("-inf"))
        alpha = torch.softmax(s, dim=1)  # Eq. 11.13
        torch.testing.assert_close(alpha, trace.attention[0][0, h], atol=1e-6, rtol=0)
        Wc = blk.attn.W_c.weight.T[h * d_k:(h + 1) * d_k]  # W_{h,c}: (d_k, d)
        out += (alpha @ V) @ Wc  # Eq. 11.14
    u_prime = out + blk.attn.W_c.bias
    u = F.layer_norm(x + u_prime, (d,), blk.ln_1.weight, blk.ln_1.bias)  # Eq. 11.15
    z_prime = blk.ffn.W_2(torch.relu(blk.ffn.W_1(u)))  # Eq. 11.16
    z = F.layer_norm(u + z_prime, (d,), blk.ln_2.weight, blk.ln_2.bias)  # Eq. 11.17
    torch.testing.assert_close(z, trace.residual[1][0], atol=1e-5, rtol=0)


def test_tied_and_untied_unembedding():
    tied = make(tied=True)
    assert tied.lm_head.weight.data_ptr() == tied.wte.weight.data_ptr()
    untied = make(tied=False)
    assert untied.lm_head.weight.data_ptr() != untied.wte.weight.data_ptr()


def test_sinusoidal_positions():
    pe = sinusoidal_positions(16, 8)
    assert pe.shape == (16, 8)
    torch.testing.assert_close(pe[:, 0], torch.sin(torch.arange(16.0)))
    torch.testing.assert_close(pe[:, 1], torch.cos(torch.arange(16.0)))


def test_input_longer_than_context_and_bad_settings():
    with pytest.raises(UserError, match="context is 24"):
        make()(torch.zeros(1, 25, dtype=torch.long))
    with pytest.raises(UserError, match="divisible"):
        ModelConfig(vocab_size=10, d=30, H=4)
    with pytest.raises(UserError, match="norm"):
        ModelConfig(vocab_size=10, norm="middle")


def test_causality_future_tokens_do_not_change_the_past():
    model = make()
    a = torch.randint(0, 50, (1, 20))
    b = a.clone()
    b[0, 15:] = (b[0, 15:] + 7) % 50
    la, _, _ = model(a)
    lb, _, _ = model(b)
    torch.testing.assert_close(la[0, :15], lb[0, :15], atol=1e-6, rtol=0)
    assert not torch.allclose(la[0, 15:], lb[0, 15:])


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_attention_only_model_round_trips(tmp_path, norm):
    """mlp="none" (Olsson et al. 2022): no feed-forward layer and no ln_2; the counts, the weight names, the
    cached path and a checkpoint agree with the built model."""
    from engine.checkpoint import load_checkpoint, save_checkpoint
    from engine.kvcache import KVCache
    from engine.tokenizers import Tokenizer

    model = make(mlp="none", norm=norm)
    assert all(b.ffn is None and b.ln_2 is None for b in model.blocks)
    assert model.num_parameters() == model.cfg.parameter_count()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items() if k != "lm_head.weight"
            and not k.endswith(".mask")} == model.cfg.weight_shapes()
    x = torch.randint(0, 50, (2, 24))
    full = model(x)[0]
    cache = KVCache(model.cfg, 2)
    step = torch.cat([model.forward_cached(x[:, :20], cache, last_only=False)]
                     + [model.forward_cached(x[:, i:i + 1], cache, last_only=False) for i in range(20, 24)], dim=1)
    torch.testing.assert_close(step, full, atol=1e-4, rtol=0)
    tok = Tokenizer.train("char", ["abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"])  # + 2 specials = 50
    save_checkpoint(tmp_path / "m", model, tok)
    loaded = load_checkpoint(tmp_path / "m")
    assert loaded.model.cfg.mlp == "none"
    torch.testing.assert_close(loaded.model.eval()(x)[0], full)
    with pytest.raises(UserError, match="mlp"):
        ModelConfig(vocab_size=50, mlp="nothing")
