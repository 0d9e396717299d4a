"""What a model says about a text: next-token distributions, sentence probabilities, attention.

Every input is led by the tokens the model expects before a text (``tokenizer.prefix_ids``: our models'
``<|bos|>``, the start; BERT's [CLS]; nothing for SmolLM2, whose tokenizer adds no start token: there the
first token has no prediction, its probability is NaN and the sentence probability is that of the rest
given it). An encoder (BERT) also gets its ``suffix_ids`` ([SEP]) for attention; asking it for a next
token is one :class:`UserError` (it has no next-token head). Texts longer than the context:

- :func:`score_text` slides a window: token t is predicted from the (at most) ``context - len(prefix)``
  tokens before it, led by the prefix. Exact for texts that fit; a documented approximation beyond.
- :func:`attention_for_text` refuses by default with a clear message (``window="error"``) or shows the
  last ``context`` tokens (``window="last"``), so the matrices are always the model's true (L, H, T, T).
  With ``on_layer`` each layer is handed over as it is computed and never kept (long inputs of large
  models: 30 layers x 9 heads x 1024^2 floats would be 1.1 GB).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import UserError
from engine.model import GPT, Probe
from engine.tasks import CancelToken
from engine.tokenizers import Tokenizer
from engine.validate import check_memory

SCORE_BATCH_BYTES = 256 * 2**20


def _check_text(text: str) -> None:
    if not text:
        raise UserError("the text is empty")


def model_label(model: GPT) -> str:
    """The model as messages name it ("minilm", or "this model")."""
    return getattr(model, "name", "") or "this model"


def require_decoder(model: GPT) -> None:
    """A UserError for a model that cannot predict a next token (a masked model, an encoder, or one without
    unembedding)."""
    if getattr(model, "objective", "next") == "mlm":
        raise UserError(f"{model_label(model)} is a masked language model: it fills blanks ([MASK]) rather than "
                        "predicting the next token")
    if not model.cfg.causal:
        arch = getattr(model, "architecture", "") or "bidirectional"
        raise UserError(f"{model_label(model)} is an encoder ({arch.upper() if arch == 'bert' else arch}): "
                        "it has no next-token head")
    if not model.has_lm_head:
        raise UserError(f"{model_label(model)} has no unembedding: it has no next-token head")


def last_logits(model: GPT, ids: list[int]) -> torch.Tensor:
    """Logits (V,) of the token after ``ids`` (the unembedding applied to the last position only)."""
    h, _, _ = model(torch.tensor([ids]), head=False)
    return model.lm_head(h[0, -1])


@dataclass
class NextToken:
    tokens: list[str]  # the prompt's tokens as read
    probs: np.ndarray  # (V,) p(x_{t+1} | prompt)

    def top(self, tokenizer: Tokenizer, k: int = 20) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs)[:k]
        return [(tokenizer.token_text(int(i)), float(self.probs[i])) for i in order]


def prompt_ids(tokenizer: Tokenizer, text: str, context: int) -> list[int]:
    """The model's prefix (<|bos|>) + the prompt, keeping the most recent tokens when it is longer than the
    context."""
    prefix = tokenizer.prefix_ids
    if context <= len(prefix):
        raise UserError(f"the model's context ({context}) has no room for a text after its start tokens")
    ids = tokenizer.encode(text).ids
    return prefix + ids[-(context - len(prefix)):] if ids else list(prefix)


@torch.no_grad()
def next_token_distribution(model: GPT, tokenizer: Tokenizer, prompt: str, temperature: float = 1.0) -> NextToken:
    require_decoder(model)
    ids = prompt_ids(tokenizer, prompt, model.cfg.context)
    if not ids:
        raise UserError(f"{model_label(model)} has no start token: give at least one token to predict from")
    if model.cfg.vocab_size * len(ids) <= SCORE_BATCH_BYTES // 16:  # small: the whole pass, as always
        logits = model(torch.tensor([ids]))[0][0, -1]
    else:
        logits = last_logits(model, ids)
    probs = torch.softmax(logits / temperature, dim=-1).numpy().astype(np.float64)
    return NextToken([tokenizer.token_text(i) for i in ids], probs)


@dataclass
class Score:
    tokens: list[str]
    ids: list[int]
    probs: list[float]  # p(x_t | x_<t, start) for each token; NaN for a first token without a start token
    logprob: float  # sum of log p: log p(x_1 .. x_T) (natural log), over the tokens that have a prediction

    @property
    def scored(self) -> int:
        """How many tokens have a probability (all, or all but the first when the model has no start)."""
        return sum(1 for p in self.probs if not math.isnan(p))

    @property
    def surprisal_bits(self) -> list[float]:
        return [-math.log2(p) if p > 0 else (math.nan if math.isnan(p) else float("inf")) for p in self.probs]

    def to_dict(self) -> dict:
        """JSON-ready: a missing probability (NaN) is null."""
        def clean(xs: list[float]) -> list[float | None]:
            return [None if math.isnan(x) else x for x in xs]

        return {"tokens": self.tokens, "probs": clean(self.probs), "logprob": self.logprob,
                "surprisal_bits": clean(self.surprisal_bits),
                "perplexity": math.exp(-self.logprob / max(self.scored, 1))}


def _token_logprobs(model: GPT, logits_or_h: torch.Tensor, hidden: bool, targets: torch.Tensor) -> list[float]:
    """log p of ``targets`` (n,) from logits (n, V), or from final hidden states (n, d) unembedded here in
    chunks (a 49,152-token vocabulary over thousands of positions would not fit at once)."""
    out: list[float] = []
    step = max(1, SCORE_BATCH_BYTES // (16 * model.cfg.vocab_size)) if hidden else len(targets)
    for a in range(0, len(targets), max(step, 1)):
        chunk = logits_or_h[a:a + step]
        logits = model.lm_head(chunk) if hidden else chunk
        lp = torch.log_softmax(logits.double(), dim=-1)
        out.extend(lp[torch.arange(len(lp)), targets[a:a + step]].tolist())
    return out


@torch.no_grad()
def score_text(model: GPT, tokenizer: Tokenizer, text: str, batch: int = 64, token: CancelToken | None = None,
               stride: int = 1) -> Score:
    """log p(x_1..x_T) = sum_t log p(x_t | x_{t-1}..x_1) (seed 000), each factor shown.

    Tokens that fit in the context are scored in one pass. Beyond it, each later token is scored from a
    window of the prefix (<|bos|>) and the tokens before it: with ``stride`` 1, exactly the
    ``context - len(prefix)`` before it (a window per token); with a larger stride, ``stride`` consecutive
    tokens share one window, so each has at least ``context - stride`` tokens before it (strided evaluation:
    ``stride`` times fewer windows). Windows are batched; ``token`` is checked between batches.
    """
    _check_text(text)
    require_decoder(model)
    ids = tokenizer.encode(text).ids
    prefix = tokenizer.prefix_ids
    p, T, V = len(prefix), model.cfg.context, model.cfg.vocab_size
    if T <= p:
        raise UserError(f"the model's context ({T}) has no room for a text after its start tokens")
    stride = max(1, min(int(stride), T - max(p, 1)))
    full = torch.tensor(prefix + ids)  # full[p + t] is ids[t]; position j predicts full[j + 1]
    n_in = min(T, len(full) - 1)  # the first pass: inputs full[:n_in] predict full[1:n_in + 1]
    logps: list[float] = [math.nan] if p == 0 else []  # nothing predicts a first token without a start
    if n_in > 0:
        small = n_in * V * 16 <= SCORE_BATCH_BYTES
        out, _, _ = model(full[None, :n_in], head=small)
        first = max(p - 1, 0)  # the position that predicts ids[0] (or ids[1] without a prefix)
        logps += _token_logprobs(model, out[0, first:], not small, full[first + 1:n_in + 1])
    # later tokens in groups of ``stride``: one window ends at the group's last token and scores them all
    start = len(logps)
    groups = [list(range(t0, min(t0 + stride, len(ids)))) for t0 in range(start, len(ids), stride)]
    pre = full[:p]
    whole_windows = T * V * 16 <= SCORE_BATCH_BYTES
    batch = max(1, min(batch, SCORE_BATCH_BYTES // (16 * T * (V if whole_windows else model.cfg.d))))
    for chunk in range(0, len(groups), batch):
        if token is not None:
            token.check()  # a long text: the user may have moved on
        gs = groups[chunk:chunk + batch]
        # the window predicting ids[g]: the prefix and the T - p tokens before it, ids[g - T + p .. g - 1]
        windows = torch.stack([torch.cat([pre, full[p + g[-1] - T + p:p + g[-1]]]) for g in gs])  # (b, T)
        out, _, _ = model(windows, head=whole_windows)
        for row, g in enumerate(gs):
            at = torch.tensor([T - 1 - (g[-1] - t) for t in g])  # where each token of the group is predicted
            logps.extend(_token_logprobs(model, out[row, at], not whole_windows, torch.tensor([ids[t] for t in g])))
    probs = [math.exp(lp) for lp in logps]
    return Score([tokenizer.token_text(i) for i in ids], ids, probs, float(sum(lp for lp in logps
                                                                               if not math.isnan(lp))))


@dataclass
class NextTokenReport:
    """What the Next-token view shows: the distribution before one position of a prompt, and the prompt's
    per-token probabilities (seed 000: p(x_1..x_T) = prod_t p(x_t | x_<t))."""

    top: list[tuple[str, float]]  # the most probable next tokens, best first
    rest: float  # the probability of all the others
    position: int  # the prompt token the distribution is before; -1: after the whole prompt
    actual: str | None  # that token (None after the prompt)
    tokens: list[str]  # the prompt's tokens
    probs: list[float]  # p(x_t | x_<t) of each
    logprob: float  # log p(x_1..x_T), natural log
    stride: int = 1  # beyond the context, each token was scored with at least context - stride tokens before it


def next_token_report(model: GPT, tokenizer: Tokenizer, prompt: str, position: int = -1, top: int = 20,
                      token: CancelToken | None = None, stride: int | None = None) -> NextTokenReport:
    """The distribution just before prompt token ``position`` (-1: after the prompt), and the prompt's score
    (beyond the context strided by ``stride``, by default a quarter of the context: see :func:`score_text`)."""
    stride = max(1, model.cfg.context // 4) if stride is None else stride
    score = score_text(model, tokenizer, prompt, token=token, stride=stride)
    if 0 <= position < len(score.ids):
        before, actual = tokenizer.decode(score.ids[:position]), score.tokens[position]
        if position == 0 and not tokenizer.prefix_ids:
            raise UserError(f"{model_label(model)} has no start token: nothing predicts the first token")
    else:
        before, actual, position = prompt, None, -1
    best = next_token_distribution(model, tokenizer, before).top(tokenizer, top)
    rest = max(0.0, 1.0 - sum(p for _, p in best))
    return NextTokenReport(best, rest, position, actual, score.tokens, score.probs, score.logprob, stride)


@dataclass
class AttentionCapture:
    tokens: list[str]  # the model's input: with its prefix (<|bos|>, [CLS]) and suffix ([SEP])
    offsets: list[tuple[int, int]]  # character span of each token in the text ((0, 0) for prefix and suffix)
    attention: np.ndarray | None  # (L, H, T, T) float32 (None when streamed to on_layer)
    scores: np.ndarray | None  # (L, H, T, T) float32 pre-softmax q.k / sqrt(d_k), -inf where masked
    truncated: int  # tokens dropped from the start (window="last")
    causal: bool = True  # False for an encoder: every matrix is full (no mask above the diagonal)
    q: np.ndarray | None = None  # (L, H, T, d_k) queries after rotary positions (with ``qk=True``)
    k: np.ndarray | None = None  # (L, H, T, d_k) keys, expanded to the H query heads they serve


LayerCallback = Callable[[int, np.ndarray, np.ndarray | None], None]


@torch.no_grad()
def attention_for_text(model: GPT, tokenizer: Tokenizer, text: str, window: str = "error",
                       scores: bool = False, on_layer: LayerCallback | None = None,
                       max_tokens: int | None = None, qk: bool = False) -> AttentionCapture:
    """Every layer's and head's attention weights (Eq. 11.13) on ``text``, per query head (H of them, also
    for grouped-query models). With ``on_layer``, each layer is passed as ``on_layer(layer, attention
    (H, T, T), scores (H, T, T) or None)`` float32 arrays as soon as it is computed and is not kept (the
    capture's ``attention`` and ``scores`` are then None). ``max_tokens`` bounds the input below the
    model's context (the window rule applies to it as to the context). With ``qk``, the queries and keys
    every layer's scores came from are kept too, so any layer's matrices can be made again without a
    forward pass (engine.capture)."""
    _check_text(text)
    enc = tokenizer.encode(text)
    T = model.cfg.context if max_tokens is None else max(1, min(model.cfg.context, int(max_tokens)))
    prefix, suffix = tokenizer.prefix_ids, tokenizer.suffix_ids
    room = T - len(prefix) - len(suffix)
    if room < 1:
        raise UserError(f"the model's context ({T}) has no room for a text after its special tokens")
    ids, offsets = enc.ids, enc.offsets
    n = min(len(ids), room) + len(prefix) + len(suffix)
    cfg = model.cfg
    held = 1 if on_layer is not None else cfg.L
    check_memory((1 + held * (2 if scores else 1)) * 4 * cfg.H * n * n + 4 * cfg.H * n * n,
                 f"the attention of {n:,} tokens")
    dropped = 0
    if len(ids) > room:
        extra = " and end" if suffix else ""
        if window == "error":
            raise UserError(f"the text is {len(ids)} tokens and the model's context is {T} (with its start{extra} "
                            "tokens); shorten it or use --window last")
        if window != "last":
            raise UserError(f"unknown window mode {window!r}; use error or last")
        dropped = len(ids) - room
        ids, offsets = ids[dropped:], offsets[dropped:]
    full = tokenizer.wrap(ids)
    hook = None
    if on_layer is not None:
        def hook(layer: int, att: torch.Tensor, sc: torch.Tensor | None) -> None:
            on_layer(layer, att[0].float().numpy().copy(), None if sc is None else sc[0].float().numpy().copy())

    _, _, trace = model(torch.tensor([full]), probe=Probe(scores=scores, on_layer=hook, qkv=qk), head=False)
    att = sc = None
    if on_layer is None:
        att = torch.stack(trace.attention)[:, 0].float().numpy().copy()  # (L, H, T, T)
        sc = torch.stack(trace.scores)[:, 0].float().numpy().copy() if scores else None
    q = k = None
    if qk:
        q = torch.stack(trace.q)[:, 0].float().numpy().copy()  # (L, H, T, d_k)
        k = torch.stack(trace.k)[:, 0].float().numpy().copy()
        trace.v.clear()
    spans = [(0, 0)] * len(prefix) + list(offsets) + [(0, 0)] * len(suffix)
    return AttentionCapture([tokenizer.token_text(i) for i in full], spans, att, sc, dropped, cfg.causal, q, k)
