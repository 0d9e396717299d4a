"""What a trained model says about a text: next-token distributions, sentence probabilities, attention.

Every input is led by ``<|bos|>`` (the start). Texts longer than the context:

- :func:`score_text` slides a window: token t is predicted from the (at most) ``context - 1`` tokens
  before it, led by <|bos|>. Exact for texts that fit; a documented approximation beyond.
- :func:`attention_for_text` refuses by default with a clear message (``window="error"``) or shows the
  last ``context`` tokens (``window="last"``), so the matrices are always the model's true (L, H, T, T).
"""

from __future__ import annotations

import math
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


@dataclass
class NextToken:
    tokens: list[str]  # the prompt's tokens as read
    probs: np.ndarray  # (V,) p(x_{t+1} | prompt)

    def top(self, tokenizer: Tokenizer, k: int = 20) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs)[:k]
        return [(tokenizer.token_text(int(i)), float(self.probs[i])) for i in order]


def prompt_ids(tokenizer: Tokenizer, text: str, context: int) -> list[int]:
    """<|bos|> + the prompt, keeping the most recent tokens when it is longer than the context."""
    ids = [tokenizer.bos_id] + tokenizer.encode(text).ids
    return ids if len(ids) <= context else [tokenizer.bos_id] + ids[-(context - 1):]


@torch.no_grad()
def next_token_distribution(model: GPT, tokenizer: Tokenizer, prompt: str, temperature: float = 1.0) -> NextToken:
    ids = prompt_ids(tokenizer, prompt, model.cfg.context)
    logits, _, _ = model(torch.tensor([ids]))
    probs = torch.softmax(logits[0, -1] / temperature, dim=-1).numpy().astype(np.float64)
    return NextToken([tokenizer.token_text(i) for i in ids], probs)


@dataclass
class Score:
    tokens: list[str]
    ids: list[int]
    probs: list[float]  # p(x_t | x_<t, start) for each token
    logprob: float  # sum of log p: log p(x_1 .. x_T) (natural log)

    @property
    def surprisal_bits(self) -> list[float]:
        return [-math.log2(p) if p > 0 else float("inf") for p in self.probs]

    def to_dict(self) -> dict:
        return {"tokens": self.tokens, "probs": self.probs, "logprob": self.logprob,
                "surprisal_bits": self.surprisal_bits, "perplexity": math.exp(-self.logprob / len(self.probs))}


@torch.no_grad()
def score_text(model: GPT, tokenizer: Tokenizer, text: str, batch: int = 64, token: CancelToken | None = None,
               stride: int = 1) -> Score:
    """log p(x_1..x_T) = sum_t log p(x_t | x_{t-1}..x_1) (seed 000), each factor shown.

    Tokens that fit in the context are scored in one pass. Beyond it, each later token is scored from a
    window of <|bos|> and the tokens before it: with ``stride`` 1, exactly the ``context - 1`` before it
    (a window per token); with a larger stride, ``stride`` consecutive tokens share one window, so each
    has at least ``context - stride`` tokens before it (strided evaluation: ``stride`` times fewer
    windows). Windows are batched; ``token`` is checked between batches.
    """
    _check_text(text)
    ids = tokenizer.encode(text).ids
    T = model.cfg.context
    stride = max(1, min(int(stride), T - 1))
    batch = max(1, min(batch, SCORE_BATCH_BYTES // (16 * T * model.cfg.vocab_size)))  # (batch, T, V) logits
    full = torch.tensor([tokenizer.bos_id] + ids)  # position p predicts ids[p]
    n_first = min(T, len(ids))
    logits, _, _ = model(full[None, :n_first])
    logp = torch.log_softmax(logits[0].double(), dim=-1)  # (n_first, V)
    logps = logp[torch.arange(n_first), full[1:n_first + 1]].tolist()
    # later tokens in groups of ``stride``: one window ends at the group's last token and scores them all
    groups = [list(range(t0, min(t0 + stride, len(ids)))) for t0 in range(T, len(ids), stride)]
    for chunk in range(0, len(groups), batch):
        if token is not None:
            token.check()  # a long text: the user may have moved on
        gs = groups[chunk:chunk + batch]
        windows = torch.stack([torch.cat([full[:1], full[g[-1] - T + 2:g[-1] + 1]]) for g in gs])  # (b, T)
        logits, _, _ = model(windows)
        for row, g in enumerate(gs):
            at = torch.tensor([T - 1 - (g[-1] - t) for t in g])  # where each token of the group is predicted
            lp = torch.log_softmax(logits[row, at].double(), dim=-1)  # (len(g), V)
            logps.extend(lp[torch.arange(len(g)), torch.tensor([ids[t] for t in g])].tolist())
    probs = [math.exp(lp) for lp in logps]
    return Score([tokenizer.token_text(i) for i in ids], ids, probs, float(sum(logps)))


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
    else:
        before, actual, position = prompt, None, -1
    best = next_token_distribution(model, tokenizer, before).top(tokenizer, top)
    rest = max(0.0, 1.0 - sum(p for _, p in best))
    return NextTokenReport(best, rest, position, actual, score.tokens, score.probs, score.logprob, stride)


@dataclass
class AttentionCapture:
    tokens: list[str]  # with <|bos|> first
    offsets: list[tuple[int, int]]  # character span of each token in the text ((0, 0) for <|bos|>)
    attention: np.ndarray  # (L, H, T, T) float32
    scores: np.ndarray | None  # (L, H, T, T) float32 pre-softmax q.k / sqrt(d_k), -inf above the diagonal
    truncated: int  # tokens dropped from the start (window="last")


@torch.no_grad()
def attention_for_text(model: GPT, tokenizer: Tokenizer, text: str, window: str = "error",
                       scores: bool = False) -> AttentionCapture:
    _check_text(text)
    enc = tokenizer.encode(text)
    T = model.cfg.context
    ids, offsets = enc.ids, enc.offsets
    n = min(len(ids) + 1, T)
    check_memory(3 * 4 * model.cfg.L * model.cfg.H * n * n, f"the attention of {n:,} tokens")
    dropped = 0
    if len(ids) + 1 > T:
        if window == "error":
            raise UserError(f"the text is {len(ids)} tokens and the model's context is {T} (with <|bos|>); "
                            f"shorten it or use --window last")
        if window != "last":
            raise UserError(f"unknown window mode {window!r}; use error or last")
        dropped = len(ids) - (T - 1)
        ids, offsets = ids[dropped:], offsets[dropped:]
    full = [tokenizer.bos_id] + ids
    _, _, trace = model(torch.tensor([full]), probe=Probe(scores=scores))
    att = torch.stack(trace.attention)[:, 0].float().numpy().copy()  # (L, H, T, T)
    sc = torch.stack(trace.scores)[:, 0].float().numpy().copy() if scores else None
    return AttentionCapture([tokenizer.token_text(i) for i in full], [(0, 0)] + list(offsets), att, sc, dropped)
