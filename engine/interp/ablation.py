"""Switch heads (or MLPs) off, or patch them from another prompt, in one forward pass, and see what changes.

What is replaced is a head's output before the heads are concatenated, z_i^(h) = sum_j alpha_ij^(h)
V^(h)(x_j) (seed 002 Eq. 11.13 and the inner sum of Eq. 11.14; hook point ``blocks.{l}.attn.hook_z``), so
head h's term W_{h,c}^T z_i^(h) of u'_i (Eq. 11.14) becomes W_{h,c}^T of the replacement; or an MLP's whole
output z' (Eq. 11.16, ``blocks.{l}.hook_mlp_out``). Modes:

- ``zero``: z^(h) = 0 at every position (the head contributes nothing; a bias of W_c stays);
- ``mean``: z^(h) at every position = its mean over the positions of this text (a constant: it carries no
  information about which token is where), or with ``reference`` texts its mean over all their positions;
- ``patch``: z^(h) taken from the same pass on another prompt (``source``): at every position when the two
  are the same length, else at the last ``last`` positions of both, aligned at their ends.

The replacement values are computed on the clean model (never from a pass with other heads switched off).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import UserError
from engine.inference import require_decoder
from engine.interp.hooks import Hook, capture, hooks, mlp_name, z_name
from engine.interp.text import TextInput, embed_input, run_blocks, text_input, token_nll
from engine.model import GPT
from engine.tasks import CancelToken
from engine.tokenizers import Tokenizer

MODES = ("zero", "mean", "patch")
BATCH_FLOATS = 8 * 2**20  # the largest activation of one chunk of every_head_effect (32 MB of float32)


@dataclass(frozen=True)
class Site:
    """A head (``layer``, ``head``) or, with head None, the MLP of ``layer``."""

    layer: int
    head: int | None = None

    @property
    def label(self) -> str:
        return f"{self.layer}.{self.head}" if self.head is not None else f"mlp{self.layer}"

    @property
    def hook(self) -> str:
        return z_name(self.layer) if self.head is not None else mlp_name(self.layer)


def parse_sites(heads: str = "", mlps: str = "") -> list[Site]:
    """``"0.1,3.2"`` (layer.head) and ``"0,2"`` (MLP layers) -> sites; a UserError naming a malformed item."""
    sites: list[Site] = []
    for item in filter(None, (s.strip() for s in (heads or "").split(","))):
        m = re.fullmatch(r"(\d{1,6})\.(\d{1,6})", item)
        if not m:
            raise UserError(f"malformed head {item[:40]!r}: write layer.head, e.g. 0.3 (layers and heads count from 0)")
        sites.append(Site(int(m[1]), int(m[2])))
    for item in filter(None, (s.strip() for s in (mlps or "").split(","))):
        if not re.fullmatch(r"\d{1,6}", item):
            raise UserError(f"malformed MLP layer {item[:40]!r}: write a layer number, e.g. 2")
        sites.append(Site(int(item)))
    return sites


def check_sites(model: GPT, sites: list[Site]) -> None:
    L, H = model.cfg.L, model.cfg.H
    for s in sites:
        if not 0 <= s.layer < L or (s.head is not None and not 0 <= s.head < H):
            what = f"head {s.label}" if s.head is not None else f"MLP layer {s.layer}"
            name = model.name or "this model"
            raise UserError(f"there is no {what}: {name} has layers 0-{L - 1} and heads 0-{H - 1}")


@dataclass
class Intervention:
    """What switching ``sites`` off (or patching them) did to one text."""

    sites: list[str]  # "2.1", "mlp3"
    mode: str
    tokens: list[str]  # the input tokens; token t + 1 is predicted at position t
    loss_before: float  # mean -log p over the predicted tokens, clean
    loss_after: float  # the same with the intervention
    per_token_before: np.ndarray  # (T - 1,) -log p(x_{t+1}), clean
    per_token_after: np.ndarray  # (T - 1,)
    kl: np.ndarray  # (T,) KL(p_clean || p_intervened) of the next-token distribution at every position
    top_before: list[tuple[str, float]]  # the next tokens after the whole text, clean
    top_after: list[tuple[str, float]]  # ... with the intervention
    truncated: int = 0  # tokens dropped from the start of the text (longer than the context)
    patched: int = 0  # positions patched (mode "patch")

    def to_dict(self) -> dict:
        per_token = [{"token": t, "loss_before": float(b), "loss_after": float(a), "kl": float(k)}
                     for t, b, a, k in zip(self.tokens[1:], self.per_token_before, self.per_token_after, self.kl[:-1],
                                           strict=True)]
        return {"sites": self.sites, "mode": self.mode, "loss_before": self.loss_before,
                "loss_after": self.loss_after, "loss_change": self.loss_after - self.loss_before,
                "per_token": per_token, "truncated": self.truncated, "patched": self.patched,
                "next_token": {"kl": float(self.kl[-1]), "before": [[t, p] for t, p in self.top_before],
                               "after": [[t, p] for t, p in self.top_after]}}


def _mean_of(acts: list[torch.Tensor], site: Site) -> torch.Tensor:
    """The site's activation averaged over every position of ``acts`` (each (1, H, T, d_k) or (1, T, d))."""
    if site.head is not None:
        total = sum(a[0, site.head].sum(0) for a in acts)  # (d_k,)
        count = sum(a.shape[2] for a in acts)
    else:
        total = sum(a[0].sum(0) for a in acts)  # (d,)
        count = sum(a.shape[1] for a in acts)
    return (total / count)[None]  # (1, d_k) or (1, d): the same at every position


def replacements(model: GPT, tokenizer: Tokenizer, inp: TextInput, sites: list[Site], mode: str,
                  reference: list[str] | None, source: str | None,
                  last: int | None) -> tuple[dict[Site, tuple[torch.Tensor, slice]], int]:
    """site -> (value, positions it replaces), and how many positions a patch covers."""
    T = len(inp.ids)
    names = sorted({s.hook for s in sites})
    if mode == "zero":
        return {s: (torch.zeros(()), slice(0, T)) for s in sites}, 0
    if mode == "mean":
        texts = reference if reference else None
        inputs = [text_input(model, tokenizer, t, 1, "a reference text") for t in texts] if texts else [inp]
        runs = [capture(model, i.tensor, names) for i in inputs]
        return {s: (_mean_of([r[s.hook] for r in runs], s), slice(0, T)) for s in sites}, 0
    if source is None:
        raise UserError("patching needs a source prompt to patch from")
    src = text_input(model, tokenizer, source, 1, "the source prompt")
    S = len(src.ids)
    if last is None:
        if S != T:
            raise UserError(f"the source prompt is {S} tokens and the text {T} (with start tokens); patching every "
                            "position needs the same length: patch the last positions instead (--last K)")
        n = T
    else:
        if not 1 <= last <= min(S, T):
            raise UserError(f"--last must be 1 to {min(S, T)} (the shorter prompt's tokens), not {last}")
        n = last
    acts = capture(model, src.tensor, names)
    out = {}
    for s in sites:
        a = acts[s.hook][0]
        out[s] = (a[s.head, S - n:] if s.head is not None else a[S - n:], slice(T - n, T))
    return out, n


def setters(sites: list[Site], values: dict[Site, tuple[torch.Tensor, slice]]) -> dict[str, Hook]:
    """One hook function per hook point, writing every site's value there."""
    by_hook: dict[str, list[Site]] = {}
    for s in sites:
        by_hook.setdefault(s.hook, []).append(s)

    def setter(group: list[Site]) -> Hook:
        def hook(y: torch.Tensor) -> torch.Tensor:
            y = y.clone()
            for s in group:
                value, where = values[s]
                if s.head is not None:
                    y[:, s.head, where] = value  # (B, T', d_k) <- (T', d_k) or (1, d_k)
                else:
                    y[:, where] = value  # (B, T', d)
            return y
        return hook

    return {name: setter(group) for name, group in by_hook.items()}


def _top(probs: torch.Tensor, tokenizer: Tokenizer, k: int) -> list[tuple[str, float]]:
    p, i = probs.topk(min(k, probs.shape[-1]))
    return [(tokenizer.token_text(int(a)), float(b)) for a, b in zip(i, p, strict=True)]


@torch.no_grad()
def intervene(model: GPT, tokenizer: Tokenizer, text: str, sites: list[Site], mode: str = "zero",
              reference: list[str] | None = None, source: str | None = None, last: int | None = None,
              top: int = 10) -> Intervention:
    """The text's loss, per-token loss and next-token distributions with and without ``sites`` switched off
    (``zero``, ``mean``) or patched from ``source`` (see the module docstring); no sites: nothing changes."""
    require_decoder(model)
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    check_sites(model, sites)
    inp = text_input(model, tokenizer, text)
    values, patched = replacements(model, tokenizer, inp, sites, mode, reference, source, last)
    idx = inp.tensor
    before = model(idx)[0][0].double()  # (T, V)
    with hooks(model, setters(sites, values)):
        after = model(idx)[0][0].double()
    lp_b, lp_a = before.log_softmax(-1), after.log_softmax(-1)
    kl = (lp_b.exp() * (lp_b - lp_a)).sum(-1).clamp_min(0.0)  # (T,)
    tgt = inp.targets
    nll_b = -lp_b[:-1].gather(1, tgt[:, None])[:, 0]  # (T - 1,)
    nll_a = -lp_a[:-1].gather(1, tgt[:, None])[:, 0]
    return Intervention([s.label for s in sites], mode, inp.tokens, float(nll_b.mean()), float(nll_a.mean()),
                        nll_b.numpy(), nll_a.numpy(), kl.numpy(), _top(lp_b[-1].exp(), tokenizer, top),
                        _top(lp_a[-1].exp(), tokenizer, top), inp.truncated, patched)


@dataclass
class HeadEffect:
    """Each head switched off alone: the change of the text's loss."""

    mode: str
    tokens: list[str]
    loss_before: float
    effect: np.ndarray  # (L, H): loss with head (l, h) off - loss_before
    per_token: np.ndarray  # (L, H, T - 1): -log p(x_{t+1}) with head (l, h) off
    truncated: int = 0

    def to_dict(self) -> dict:
        return {"mode": self.mode, "loss_before": self.loss_before, "effect": self.effect.tolist(),
                "truncated": self.truncated}


@torch.no_grad()
def every_head_effect(model: GPT, tokenizer: Tokenizer, text: str, mode: str = "zero",
                      token: CancelToken | None = None) -> HeadEffect:
    """Switch off every head one at a time (``zero`` or ``mean`` over the text's positions) -> the L x H
    matrix of loss changes (batched: see :func:`each_head_off`). ``token`` is checked between batches."""
    require_decoder(model)
    inp = text_input(model, tokenizer, text)
    tgt = inp.targets
    base, per_token = each_head_off(model, inp.tensor, mode, lambda out, clean: token_nll(model, out, tgt), token)
    effect = per_token.mean(-1) - base.mean()
    return HeadEffect(mode, inp.tokens, float(base.mean()), effect.numpy(), per_token.numpy(), inp.truncated)


Measure = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (out (b, T, d), clean (1, T, d)) -> (b, n)


def each_head_off(model: GPT, idx: torch.Tensor, mode: str, measure: Measure,
                  token: CancelToken | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``measure`` of the final residual stream with every head (l, h) switched off alone (``zero``, or
    ``mean`` over the positions of ``idx`` (1, T)) -> (its value on the clean pass (n,), (L, H, n)).

    Fast by batching: one clean pass keeps the residual stream entering every block; then, for layer l,
    the H copies of the text (copy h with head h off) go through blocks l..L-1 only, as one batch (split
    when large), since blocks before l are not changed. That is H (L + 1) L / 2 block-passes of one text
    instead of L^2 H for L H separate passes. ``token`` is checked between batches.
    """
    if mode not in ("zero", "mean"):
        raise UserError(f"every head's effect switches heads off: mode zero or mean, not {mode!r}")
    cfg = model.cfg
    T, H, L = idx.shape[1], cfg.H, cfg.L
    x, rope = embed_input(model, idx)
    zs: dict[int, torch.Tensor] = {}  # layer -> (H, d_k), the clean per-head means
    keep: list[torch.Tensor] = []

    def keeper(layer: int) -> Hook:
        def keep_z(y: torch.Tensor) -> torch.Tensor:
            zs[layer] = y[0].mean(1)  # (H, d_k): each head's mean over the positions
            return y
        return keep_z

    with hooks(model, {z_name(i): keeper(i) for i in range(L)}):
        clean = run_blocks(model, x, rope, 0, keep)
    base = measure(clean, clean)[0].double()  # (n,)
    per: torch.Tensor | None = None
    width = max(cfg.d, cfg.m, H * T, min(cfg.vocab_size, 4096) if model.has_lm_head else 0)  # widest per position
    chunk = max(1, min(H, BATCH_FLOATS // (T * width)))
    for layer in range(L):
        for h0 in range(0, H, chunk):
            if token is not None:
                token.check()
            hs = torch.arange(h0, min(H, h0 + chunk))
            b = len(hs)
            value = zs[layer][hs][:, None] if mode == "mean" else 0.0  # (b, 1, d_k)

            def off(y: torch.Tensor, hs: torch.Tensor = hs, value: torch.Tensor | float = value) -> torch.Tensor:
                y = y.clone()
                y[torch.arange(len(hs)), hs] = value  # copy r of the batch: head hs[r] off, (b, T, d_k)
                return y

            with hooks(model, {z_name(layer): off}):
                out = run_blocks(model, keep[layer].expand(b, -1, -1), rope, layer)
            rows = measure(out, clean).double()  # (b, n)
            if per is None:
                per = torch.empty(L, H, rows.shape[1], dtype=torch.float64)
            per[layer, h0:h0 + b] = rows
    assert per is not None
    return base, per
