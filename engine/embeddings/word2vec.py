"""Skip-gram word2vec, written here: training is a plain generator of events with a cancel token.

The model (seed 002, section 11.1). Every word w has an input vector v_w (row of ``W_in``, the
embedding, Eq. 11.5: v_w = W^T I(w) with I(w) one-hot) and an output vector u_w (row of ``W_out``).
Skip-gram minimises Eq. 11.3,

    J(theta) = -(1/T) sum_t sum_{|j| <= c, j != 0} log p(w_{t+j} | w_t),

with p given by a softmax over the vocabulary, Eq. 11.4,

    p(o | c) = exp(u_o^T v_c) / sum_w exp(u_w^T v_c).

(The seed prints Eq. 11.4 with a single vector symbol; as in Mikolov et al. 2013 the context word uses
an output vector u and the centre word an input vector v. With one shared matrix, u_w^T v_w would be the
largest score for every w, so a word would predict itself.)

Two ways to train:

* ``negative=0``: the full softmax of Eq. 11.4, exactly. Its cost grows with the vocabulary size V per
  pair (the seed's "impractical to train" remark), so it is for small vocabularies.
* ``negative=K``: negative sampling (Mikolov et al. 2013b), the practical approximation: for each
  (centre, context) pair, maximise log sigma(u_o^T v_c) + sum_{k=1..K} log sigma(-u_{n_k}^T v_c) with n_k
  drawn from the unigram distribution to the power 3/4, and subsample frequent words (a word of
  frequency f is kept with probability (sqrt(f/s) + 1) s/f, threshold s), as in word2vec and gensim.

As in word2vec: the effective window is drawn uniformly from 1..c for each centre word (near words count
more), words out of the vocabulary or subsampled away are removed before windows are taken, pairs are
visited in text order, the learning rate decays linearly from ``lr`` to ``min_lr`` over the whole run,
v starts uniform in +-1/d (gensim's choice; word2vec.c uses +-0.5/d) and u at zero.

Unlike word2vec's one-pair-at-a-time loop, updates are applied to batches of pairs with vectorised
gathers and ``index_add_`` scatters (sparse: only the rows a batch touches change), and groups of
``share_negatives`` consecutive pairs share their K negative draws: each pair still gets K independent
draws from the same distribution, but a group's negative scores are one small matrix product and only K
output rows per group are read and written. (Measured against gensim in bench/word2vec_peer.py: same
quality within seed noise, training time within a small factor.)

Reported loss: ``loss_per_epoch[e]`` is the mean, over every (centre, context) pair of epoch e, of the
loss the update minimised for that pair, evaluated just before the update: -log p(o|c) for the full
softmax (so with a fixed window and no subsampling it is J(theta) times T / number of pairs), and the
negative-sampling loss otherwise. It is a per-epoch mean, never a running total across epochs (gensim's
``get_latest_training_loss`` is cumulative and loses precision in float32, and gensim leaves out pairs
whose score is beyond +-6; users often misread it). Because each pair is scored just before its own
update, this "online" loss can rise in the last epochs (see :meth:`SkipGram.eval_loss`), so
``eval_loss_per_epoch`` also gives the loss of the frozen vectors at each epoch's end on a fixed sample
of pairs (and fixed negatives).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.embeddings.vectors import Vectors
from engine.embeddings.vocab import Vocab, tokenize
from engine.errors import UserError
from engine.events import Evaluation, Event, Finished, Paused, Progress, Snapshot
from engine.tasks import CancelToken

MAX_SOFTMAX_VOCAB = 20_000  # the full softmax costs V * d per pair; above this use negative sampling
CHUNK_TOKENS = 100_000  # pairs are built per chunk of this many (kept) tokens
NEG_TABLE_SIZE = 1 << 22  # slots of the negative-sampling table
EVAL_PAIRS = 100_000  # size of the fixed sample the frozen-vector loss is measured on


@dataclass
class Word2VecConfig:
    dim: int = 100  # d
    window: int = 5  # c
    epochs: int = 5
    min_count: int = 5
    negative: int = 5  # K; 0 = full softmax (Eq. 11.4)
    sample: float = 1e-3  # subsampling threshold s; 0 = off
    lr: float = 0.025
    min_lr: float = 0.0001
    batch: int = 1024  # (centre, context) pairs per vectorised update
    share_negatives: int = 8  # pairs of a batch that share their K negative draws (1: none shared)
    seed: int = 1
    dynamic_window: bool = True  # effective window uniform in 1..c per centre word
    shuffle: bool = False  # shuffle pairs within a chunk (False: text order, as word2vec and gensim)
    ns_exponent: float = 0.75
    max_vocab: int = 0  # keep only the most frequent words (0: all with count >= min_count)
    snapshot_every: int = 0  # batches between snapshots (0: one per epoch); a snapshot at step 0 too
    snapshot_words: int = 2000  # snapshots hold the vectors of the most frequent words only
    progress_every: int = 50  # batches between Progress events

    def validate(self) -> None:
        checks = [
            (self.dim >= 1, "dimension must be at least 1"),
            (self.window >= 1, "window must be at least 1"),
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.min_count >= 1, "min count must be at least 1"),
            (self.negative >= 0, "negative must be 0 (full softmax) or more"),
            (self.sample >= 0, "sample must be 0 (off) or positive"),
            (self.lr > 0 and 0 <= self.min_lr <= self.lr, "need 0 <= min lr <= lr and lr > 0"),
            (self.batch >= 1, "batch must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)


# --- events (engine.events) -------------------------------------------------------------------
#
# Progress.metrics: epoch (1-based), epochs, loss (mean loss per pair so far in this epoch), lr,
# words_per_s (corpus tokens per second); Progress.step counts batches, Progress.fraction corpus tokens.
# Evaluation at each epoch's end, metrics: epoch, loss (mean loss per pair over the epoch, each taken just
# before its update: "online"), pairs, seconds, eval_loss (mean loss per pair on the fixed evaluation
# sample, vectors frozen at epoch end). Snapshot.data: VectorSnapshot. Finished.summary: SkipGram.summary.


@dataclass
class VectorSnapshot:
    """The input vectors of the ``ids`` (most frequent words) at one moment, for the animation."""

    epoch: int
    fraction: float
    ids: np.ndarray  # (n,) int64 row indices into the vocabulary
    vectors: np.ndarray  # (n, d) float32, a copy safe to hand to another thread


# --- the objective, exactly -------------------------------------------------------------------


def skipgram_objective(w_in: np.ndarray, w_out: np.ndarray, ids: np.ndarray, window: int) -> float:
    """J(theta) of Eq. 11.3 with p from the full softmax of Eq. 11.4, computed directly.

    ``ids`` is the word sequence w_1..w_T; pairs run over |j| <= c, j != 0, inside the sequence.
    """
    w_in = np.asarray(w_in, dtype=np.float64)
    w_out = np.asarray(w_out, dtype=np.float64)
    logits = w_in @ w_out.T  # (V, V): u_o^T v_c for every centre c (row) and outcome o (column)
    logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) \
        - logits.max(1, keepdims=True)
    T = len(ids)
    total = 0.0
    for t in range(T):
        for j in range(-window, window + 1):
            if j != 0 and 0 <= t + j < T:
                total += logp[ids[t], ids[t + j]]
    return -total / T


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's subsampling: keep a word of count f (of N tokens) with prob (sqrt(f/sN) + 1) sN/f."""
    if sample <= 0:
        return np.ones(len(counts))
    threshold = sample * counts.sum()
    f = counts.astype(np.float64)
    return np.minimum(1.0, (np.sqrt(f / threshold) + 1.0) * threshold / f)


def make_pairs(ids: np.ndarray, window: int, rng: np.random.Generator, dynamic: bool = True) -> np.ndarray:
    """All (centre, context) pairs of a token sequence, as an (n, 2) array in text order (centre by
    centre, as word2vec visits them), vectorised over the 2c offsets.

    With ``dynamic`` each centre t gets its own window b_t uniform in 1..c, and pairs (t, t+-j) with
    j <= b_t are kept (word2vec's "reduced window")."""
    T = len(ids)
    b = rng.integers(1, window + 1, size=T) if dynamic else np.full(T, window)
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])
    ctx = np.arange(T)[:, None] + offsets[None, :]  # (T, 2c) context positions
    valid = (ctx >= 0) & (ctx < T) & (np.abs(offsets)[None, :] <= b[:, None])
    centres = np.broadcast_to(ids[:, None], ctx.shape)[valid]
    return np.stack([centres, ids[ctx[valid]]], 1)


# --- training ---------------------------------------------------------------------------------


class SkipGram:
    """Trains skip-gram vectors for ``vocab`` on the id sequence ``ids`` (see the module docstring)."""

    def __init__(self, vocab: Vocab, ids: np.ndarray, cfg: Word2VecConfig,
                 init: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        cfg.validate()
        if len(ids) < 2:
            raise UserError("the corpus has fewer than 2 words in the vocabulary; nothing to learn from")
        V = len(vocab)
        if cfg.negative == 0 and V > MAX_SOFTMAX_VOCAB:
            raise UserError(f"the full softmax over {V} words is too slow (limit {MAX_SOFTMAX_VOCAB}); "
                            "use negative sampling (--negative 5) or a higher min count")
        self.vocab, self.ids, self.cfg = vocab, np.asarray(ids, dtype=np.int64), cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        if init is not None:
            self.w_in = torch.tensor(init[0], dtype=torch.float32)
            self.w_out = torch.tensor(init[1], dtype=torch.float32)
            if self.w_in.shape != (V, cfg.dim) or self.w_out.shape != (V, cfg.dim):
                raise UserError(f"initial vectors must be ({V}, {cfg.dim})")
        else:
            self.w_in = (torch.rand(V, cfg.dim, generator=self.gen) * 2 - 1) / cfg.dim
            self.w_out = torch.zeros(V, cfg.dim)
        self.keep = keep_probabilities(vocab.counts, cfg.sample)
        if cfg.negative:
            # word2vec's table: word w fills a share p(w) ~ count^0.75 of its slots, so a uniform slot
            # is a draw from p (a look-up is ~7x faster than an inverse-CDF search per draw)
            p = vocab.counts.astype(np.float64) ** cfg.ns_exponent
            cdf = np.cumsum(p / p.sum())
            slots = (np.arange(NEG_TABLE_SIZE) + 0.5) / NEG_TABLE_SIZE
            self.neg_table = torch.from_numpy(np.minimum(np.searchsorted(cdf, slots), V - 1).astype(np.int64))
        self.step = 0
        self.epoch = 0
        self.loss_per_epoch: list[float] = []
        self.pairs_per_epoch: list[int] = []
        self.eval_loss_per_epoch: list[float] = []
        self._eval_sample(np.random.default_rng(cfg.seed + 1))
        self.train_seconds = 0.0

    # -- the two updates -------------------------------------------------------------------

    def _update_negative(self, centre: torch.Tensor, context: torch.Tensor, lr: float) -> float:
        """One batched negative-sampling SGD step; returns the summed loss of the batch before it.

        Pairs come in groups of ``share_negatives`` that share their K negatives: each pair still sees
        K independent draws from the unigram^0.75 distribution, but a group's scores are one small
        matrix product and only K output rows per group are read and written, not K per pair."""
        B, K, d = len(centre), self.cfg.negative, self.w_in.shape[1]
        G = self.cfg.share_negatives if B % self.cfg.share_negatives == 0 else 1
        n = B // G
        slots = torch.randint(NEG_TABLE_SIZE, (n * K,), generator=self.gen)
        negs = self.neg_table.index_select(0, slots)  # (n*K,)
        v = self.w_in.index_select(0, centre)  # (B, d)
        u_pos = self.w_out.index_select(0, context)  # (B, d)
        u_neg = self.w_out.index_select(0, negs).view(n, K, d)
        vg = v.view(n, G, d)
        s_pos = (v * u_pos).sum(1)  # (B,)  u_o^T v_c
        s_neg = torch.bmm(vg, u_neg.transpose(1, 2))  # (n, G, K)  u_k^T v_c
        loss = -(F.logsigmoid(s_pos).sum() + F.logsigmoid(-s_neg).sum())
        # word2vec's (label - sigma(score)) * alpha: a gradient ascent step on the log-likelihood
        g_pos = (1.0 - torch.sigmoid(s_pos)) * lr  # (B,)
        g_neg = torch.sigmoid(s_neg).mul_(-lr)  # (n, G, K)
        g_neg *= negs.view(n, 1, K) != context.view(n, G, 1)  # a negative equal to the context is skipped
        # gradients use the vectors before this step (computed first, applied after)
        grad_v = g_pos.unsqueeze(1) * u_pos + torch.bmm(g_neg, u_neg).view(B, d)
        grad_u_neg = torch.bmm(g_neg.transpose(1, 2), vg).view(n * K, d)
        self.w_out.index_add_(0, context, g_pos.unsqueeze(1) * v)
        self.w_out.index_add_(0, negs, grad_u_neg)
        self.w_in.index_add_(0, centre, grad_v)
        return float(loss)

    def _update_softmax(self, centre: torch.Tensor, context: torch.Tensor, lr: float) -> float:
        """One batched SGD step on -log p(context | centre) with the full softmax of Eq. 11.4."""
        v = self.w_in[centre]  # (B, d)
        logits = v @ self.w_out.T  # (B, V)
        logp = torch.log_softmax(logits, 1)
        loss = -logp.gather(1, context.unsqueeze(1)).sum()
        g = -logp.exp()  # d(log p_o)/d logits = onehot(o) - softmax
        g[torch.arange(len(context)), context] += 1.0
        g *= lr
        grad_v = g @ self.w_out
        self.w_out.add_(g.T @ v)  # dense: every output vector appears in the softmax's denominator
        self.w_in.index_add_(0, centre, grad_v)
        return float(loss)

    # -- a loss that only the vectors move -----------------------------------------------------

    def _eval_sample(self, rng: np.random.Generator) -> None:
        """A fixed sample of pairs (drawn like training pairs) and, for negative sampling, fixed negatives."""
        cfg = self.cfg
        ids = self.ids[:CHUNK_TOKENS * 4]
        if cfg.sample > 0:
            ids = ids[rng.random(len(ids)) < self.keep[ids]]
        pairs = make_pairs(ids, cfg.window, rng, cfg.dynamic_window)
        limit = EVAL_PAIRS if cfg.negative else EVAL_PAIRS // 10  # the softmax costs V per pair
        if len(pairs) > limit:
            pairs = pairs[np.sort(rng.choice(len(pairs), limit, replace=False))]
        self.eval_pairs = torch.from_numpy(pairs)
        if cfg.negative:
            slots = torch.from_numpy(rng.integers(NEG_TABLE_SIZE, size=(len(pairs), cfg.negative)))
            self.eval_negs = self.neg_table[slots]

    @torch.no_grad()
    def eval_loss(self, block: int = 4096) -> float:
        """Mean loss per pair on the fixed sample with the current vectors, no update.

        The epoch loss is "online": each pair is scored just before its own update, so at a high
        learning rate it also rewards tracking the recent text (a scene's names recur), and it can rise
        in the last epochs while the vectors keep improving. This one moves only when the vectors do."""
        total = 0.0
        pairs = self.eval_pairs
        for s in range(0, len(pairs), block):
            c, o = pairs[s:s + block, 0], pairs[s:s + block, 1]
            v = self.w_in[c]
            if self.cfg.negative:
                negs = self.eval_negs[s:s + block]
                sn = torch.einsum("bd,bkd->bk", v, self.w_out[negs])
                sp = (v * self.w_out[o]).sum(1)
                total -= float(F.logsigmoid(sp).sum() + (F.logsigmoid(-sn) * (negs != o.unsqueeze(1))).sum())
            else:
                total -= float(torch.log_softmax(v @ self.w_out.T, 1).gather(1, o.unsqueeze(1)).sum())
        return total / max(len(pairs), 1)

    # -- the loop --------------------------------------------------------------------------

    def lr_at(self, fraction: float) -> float:
        cfg = self.cfg
        return max(cfg.min_lr, cfg.lr - (cfg.lr - cfg.min_lr) * fraction)

    def snapshot(self) -> Snapshot:
        n = min(len(self.vocab), self.cfg.snapshot_words)
        done = self.epoch / self.cfg.epochs
        return Snapshot(self.step, VectorSnapshot(self.epoch, done, np.arange(n, dtype=np.int64),
                                                  self.w_in[:n].numpy().copy()), keep_all=True)

    def run(self, token: CancelToken | None = None) -> Iterator[Event]:
        """Train for ``cfg.epochs`` epochs, yielding events; stops early (keeping the vectors learned so
        far) when ``token`` is cancelled, and blocks between batches while it is paused."""
        cfg = self.cfg
        token = token or CancelToken()
        update = self._update_negative if cfg.negative else self._update_softmax
        N = len(self.ids)
        total = cfg.epochs * N
        stopped = False
        t_start = time.perf_counter()
        yield self.snapshot()
        for epoch in range(self.epoch, cfg.epochs):
            self.epoch = epoch
            t_epoch = time.perf_counter()
            loss_sum, pairs_done = 0.0, 0
            for start in range(0, N, CHUNK_TOKENS):
                chunk = self.ids[start:start + CHUNK_TOKENS]
                if cfg.sample > 0:  # subsampling draws anew every epoch, as in word2vec
                    chunk = chunk[self.rng.random(len(chunk)) < self.keep[chunk]]
                pairs = make_pairs(chunk, cfg.window, self.rng, cfg.dynamic_window)
                if cfg.shuffle:
                    pairs = pairs[self.rng.permutation(len(pairs))]
                pairs = torch.from_numpy(pairs)
                n_batches = math.ceil(len(pairs) / cfg.batch)
                for bi in range(n_batches):
                    if token.paused:
                        yield Paused(self.step)
                        token.wait_if_paused()
                    if token.cancelled:
                        stopped = True
                        break
                    # progress in corpus tokens, interpolated inside the chunk (word2vec's alpha schedule)
                    fraction = (epoch * N + start + len(self.ids[start:start + CHUNK_TOKENS]) * bi / n_batches) / total
                    lr = self.lr_at(fraction)
                    batch = pairs[bi * cfg.batch:(bi + 1) * cfg.batch]
                    loss_sum += update(batch[:, 0], batch[:, 1], lr)
                    pairs_done += len(batch)
                    self.step += 1
                    if cfg.progress_every and self.step % cfg.progress_every == 0:
                        elapsed = self.train_seconds + time.perf_counter() - t_start
                        rate = fraction * total / elapsed if elapsed > 0 else 0.0
                        eta = (1 - fraction) * total / rate if rate > 0 else 0.0
                        yield Progress(self.step, None, elapsed, eta,
                                       {"epoch": epoch + 1, "epochs": cfg.epochs, "loss": loss_sum / max(pairs_done, 1),
                                        "lr": lr, "words_per_s": rate}, fraction)
                    if cfg.snapshot_every and self.step % cfg.snapshot_every == 0:
                        snap = self.snapshot()
                        snap.data.fraction = fraction
                        yield snap
                if stopped:
                    break
            if stopped:
                break
            self.loss_per_epoch.append(loss_sum / max(pairs_done, 1))
            self.pairs_per_epoch.append(pairs_done)
            self.epoch = epoch + 1
            self.eval_loss_per_epoch.append(self.eval_loss())
            yield Evaluation(self.step, {"epoch": epoch + 1, "loss": self.loss_per_epoch[-1], "pairs": pairs_done,
                                         "seconds": time.perf_counter() - t_epoch,
                                         "eval_loss": self.eval_loss_per_epoch[-1]})
            if not cfg.snapshot_every:
                yield self.snapshot()
        self.train_seconds += time.perf_counter() - t_start
        if cfg.snapshot_every and not stopped:
            yield self.snapshot()
        yield Finished({**self.summary(), "stopped": stopped}, stopped)

    def summary(self) -> dict[str, Any]:
        return {"vocab": len(self.vocab), "tokens": int(len(self.ids)), "epochs": self.epoch,
                "seconds": self.train_seconds, "loss_per_epoch": list(self.loss_per_epoch),
                "eval_loss_per_epoch": list(self.eval_loss_per_epoch),
                "pairs_per_epoch": list(self.pairs_per_epoch), "config": asdict(self.cfg)}

    def vectors(self, source: str = "skip-gram") -> Vectors:
        """The learned embeddings v_w (input vectors), most frequent word first."""
        return Vectors(list(self.vocab.words), self.w_in.numpy().copy(), source)

    def output_vectors(self, source: str = "skip-gram output") -> Vectors:
        return Vectors(list(self.vocab.words), self.w_out.numpy().copy(), source)


def prepare(text: str, cfg: Word2VecConfig) -> tuple[Vocab, np.ndarray]:
    """Tokenise ``text``, build the vocabulary (min count, max size) and encode it as ids."""
    tokens = tokenize(text)
    if not tokens:
        raise UserError("the corpus has no words")
    vocab = Vocab.build(tokens, cfg.min_count, cfg.max_vocab)
    return vocab, vocab.encode(tokens)


def train(text: str, cfg: Word2VecConfig, token: CancelToken | None = None) -> tuple[SkipGram, dict[str, Any]]:
    """Train to the end (no events); returns the trainer and its summary."""
    vocab, ids = prepare(text, cfg)
    model = SkipGram(vocab, ids, cfg)
    summary: dict[str, Any] = {}
    for event in model.run(token):
        if isinstance(event, Finished):
            summary = event.summary
    return model, summary
