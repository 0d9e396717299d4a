"""The masked language model (seed 001, "Masking", Figure 11.5): model p(x_i | x_1..x_{i-1}, x_{i+1}..x_n).

Training (BERT's recipe, seed 001, Figure 11.5): in each window about 15% of the tokens are chosen; of
those, 80% are replaced by ``[MASK]``, 10% by a random token and 10% are left as they are, and the
model's probabilities of the original tokens at the chosen positions are the loss (every other position
is ignored: its target is -100). The model is the same transformer with bidirectional attention
(``ModelConfig.causal`` False) and its unembedding kept.

Here:

- :func:`mask_batch` chooses and corrupts the positions;
- :class:`MaskedBatches` samples masked windows the way :class:`engine.training.Batches` samples next-token ones;
- :func:`fill_mask` answers "what goes in the blank(s)" for a text with ``[MASK]`` in it;
- :func:`masked_accuracy` measures masked-token accuracy beside a unigram baseline;
- :func:`side_by_side` puts a next-token model (GPT) and its masked twin (BERT) on the same token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.checkpoint import LoadedModel
from engine.errors import UserError
from engine.model import GPT, Probe
from engine.tokenizers import MASK, Tokenizer

__all__ = ["HAMLET_LINE", "MASK", "FillMask", "GptVsBert", "MaskedBatches", "fill_mask", "mask_batch",
           "masked_accuracy", "never_ids", "require_masked", "side_by_side", "unigram_counts"]

IGNORE = -100  # targets the cross-entropy skips (torch's ignore_index)
HAMLET_LINE = "To be, or not to [MASK], that is the question."  # the shipped model's check (README)
MASK_RATE = 0.15


def never_ids(tokenizer: Tokenizer) -> list[int]:
    """Ids never chosen for masking, never used as random replacements and never shown as candidates:
    the special tokens (<|bos|>, <|unk|>, [MASK]; BERT's [CLS], [SEP], [PAD], ...) and unused ids."""
    out = set(tokenizer.special_ids) | set(tokenizer.never_generate) | set(tokenizer.prefix_ids)
    out |= set(tokenizer.suffix_ids)
    for i in (tokenizer.bos_id, tokenizer.unk_id, tokenizer.mask_id, tokenizer.pad_id):
        if i is not None:
            out.add(int(i))
    return sorted(out)


def mask_batch(ids: torch.Tensor, mask_id: int, vocab_size: int, never: list[int] | set[int],
               gen: torch.Generator, rate: float = MASK_RATE) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt a batch for the masked objective (seed 001, Figure 11.5).

    ``ids`` (B, T) long. About ``rate`` of the positions whose id is not in ``never`` are chosen (at least
    one per row that has any such position); of the chosen, 80% become ``mask_id``, 10% a random token not
    in ``never`` and 10% stay. Returns (inputs (B, T), targets (B, T)): targets hold the original id at the
    chosen positions and -100 (ignored by the loss) elsewhere. All randomness comes from ``gen``.
    """
    B, T = ids.shape
    never_t = torch.tensor(sorted({int(i) for i in never} | {int(mask_id)}), dtype=torch.long)
    eligible = ~torch.isin(ids, never_t)  # (B, T)
    chosen = (torch.rand(B, T, generator=gen) < rate) & eligible
    # a row with nothing chosen gets one eligible position at random
    keys = torch.rand(B, T, generator=gen).masked_fill(~eligible, -1.0)  # (B, T)
    pick = keys.argmax(dim=1)  # (B,)
    empty = ~chosen.any(dim=1) & eligible.any(dim=1)
    chosen[empty, pick[empty]] = True
    roll = torch.rand(B, T, generator=gen)  # (B, T): < 0.8 mask, < 0.9 random token, else unchanged
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[never_t[never_t < vocab_size]] = False
    pool = allowed.nonzero().squeeze(1)  # (n,) the ids a random replacement is drawn from
    random_ids = pool[torch.randint(len(pool), (B, T), generator=gen)] if len(pool) else ids
    inputs = ids.clone()
    inputs = torch.where(chosen & (roll < 0.8), torch.full_like(ids, mask_id), inputs)
    inputs = torch.where(chosen & (roll >= 0.8) & (roll < 0.9), random_ids, inputs)
    targets = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    return inputs, targets


class MaskedBatches:
    """Random windows of a token stream for the masked objective: each window is <|bos|> and the next
    ``context - 1`` tokens, with no shift (the targets are the window's own tokens), masked by
    :func:`mask_batch`. ``sample(gen)`` -> (inputs (B, T), targets (B, T)), like ``Batches.sample``."""

    def __init__(self, ids: np.ndarray, context: int, batch: int, tokenizer: Tokenizer) -> None:
        if len(ids) < context + 1:
            raise UserError(f"the text has {len(ids)} tokens; training needs more than the context ({context})")
        if tokenizer.mask_id is None:
            raise UserError("the tokenizer has no [MASK] token; the masked objective needs one")
        self.ids = ids
        self.T, self.B = context, batch
        self.bos = tokenizer.bos_id
        self.mask_id = int(tokenizer.mask_id)
        self.vocab_size = tokenizer.vocab_size
        self.never = never_ids(tokenizer)

    def windows(self, gen: torch.Generator) -> torch.Tensor:
        """(B, T) unmasked windows, each led by <|bos|>."""
        n = self.T - 1 if self.bos is not None else self.T
        starts = torch.randint(len(self.ids) - n, (self.B,), generator=gen)
        body = torch.from_numpy(np.stack([self.ids[s:s + n] for s in starts.tolist()]).astype(np.int64))
        if self.bos is None:
            return body
        return torch.cat([torch.full((self.B, 1), self.bos, dtype=torch.long), body], dim=1)  # (B, T)

    def sample(self, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return mask_batch(self.windows(gen), self.mask_id, self.vocab_size, self.never, gen)


# --- which models can fill a blank -------------------------------------------------------------------


def _label(model: GPT) -> str:
    return getattr(model, "name", "") or "this model"


def _title(model: GPT) -> str:
    """The model as a person names it: "all-MiniLM-L6-v2" for minilm."""
    from engine.models.registry import NAMED

    name = getattr(model, "name", "")
    if name in NAMED and NAMED[name].package:
        return NAMED[name].title.split(" (")[0]
    return _label(model)


def require_masked(model: GPT, tokenizer: Tokenizer) -> int:
    """The mask id, or a one-line UserError for a model that cannot fill a blank: a causal (next-token)
    model, an encoder without an unembedding (a sentence encoder), a tokenizer without [MASK]."""
    if model.cfg.causal:
        raise UserError(f"{_label(model)} is a next-token (causal) model; fill-mask needs a masked model such as "
                        "default-mlm")
    if not model.has_lm_head:
        raise UserError(f"{_title(model)} has no masked-LM head (a sentence encoder)")
    if tokenizer.mask_id is None:
        raise UserError(f"the tokenizer of {_label(model)} has no {MASK} token; fill-mask needs one")
    return int(tokenizer.mask_id)


def _top(probs: torch.Tensor, tokenizer: Tokenizer, never: list[int], k: int) -> list[tuple[str, float]]:
    """The k most probable tokens of probs (V,), specials left out."""
    p = probs.clone()
    p[torch.tensor([i for i in never if i < len(p)], dtype=torch.long)] = -1.0
    values, order = torch.topk(p, min(k, len(p)))
    return [(tokenizer.token_text(int(i)), float(v)) for i, v in zip(order.tolist(), values.tolist(), strict=True)
            if v >= 0]


# --- fill-mask -------------------------------------------------------------------------------------------


@dataclass
class FillMask:
    tokens: list[str]  # the model's input as read, its prefix (<|bos|>, [CLS]) and suffix ([SEP]) included
    positions: list[int]  # index into tokens of each [MASK]
    candidates: list[list[tuple[str, float]]]  # per mask: the top tokens and p(token | all the others)

    def to_dict(self) -> dict:
        return {"tokens": self.tokens, "positions": self.positions,
                "candidates": [[[t, p] for t, p in c] for c in self.candidates]}


def masked_ids(tokenizer: Tokenizer, text: str, mask_id: int) -> list[int]:
    """The text's ids with each literal "[MASK]" as ``mask_id``. A single space just before a mask belongs
    to the blank (BPE and word tokens carry their leading space: "to [MASK]" hides " be", not "be")."""
    pieces = text.split(MASK)
    ids: list[int] = []
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        if not last and tokenizer.kind != "char" and piece.endswith(" "):
            piece = piece[:-1]
        if piece:
            ids += tokenizer.encode(piece).ids
        if not last:
            ids.append(mask_id)
    return ids


@torch.no_grad()
def fill_mask(model: GPT, tokenizer: Tokenizer, text: str, top: int = 5) -> FillMask:
    """p(x_i | every other token) at each [MASK] of ``text`` (seed 001, "Masking"): one forward pass; with
    several masks each is predicted from the rest as given (the others stay masked)."""
    mask_id = require_masked(model, tokenizer)
    if MASK not in text:
        raise UserError(f"the text has no {MASK}; put {MASK} where a token should be guessed")
    if int(top) < 1:
        raise UserError(f"--top must be at least 1 (got {top})")
    full = tokenizer.wrap(masked_ids(tokenizer, text, mask_id))
    if len(full) > model.cfg.context:
        raise UserError(f"the text is {len(full)} tokens with its special tokens and the model's context is "
                        f"{model.cfg.context}; shorten it")
    logits = model(torch.tensor([full]))[0][0]  # (T, V)
    probs = torch.softmax(logits.double(), dim=-1)  # (T, V)
    positions = [i for i, t in enumerate(full) if t == mask_id]
    never = never_ids(tokenizer)
    candidates = [_top(probs[i], tokenizer, never, int(top)) for i in positions]
    return FillMask([tokenizer.token_text(i) for i in full], positions, candidates)


# --- accuracy ---------------------------------------------------------------------------------------------


def unigram_counts(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """How often each id occurs in ``ids`` (V,) int64: the unigram baseline's training counts."""
    return np.bincount(np.asarray(ids, dtype=np.int64), minlength=vocab_size)[:vocab_size]


@torch.no_grad()
def masked_accuracy(model: GPT, tokenizer: Tokenizer, ids: np.ndarray, batches: int, context: int, seed: int,
                    train_counts: np.ndarray | None = None, batch: int = 12) -> dict[str, float]:
    """Loss and masked-token accuracy on ``batches`` fixed masked batches of ``ids`` (seeded: the same
    windows and masks for the same arguments), beside the unigram baseline: always answer the most frequent
    non-special token of the training ids (``train_counts``, (V,); ``ids``' own counts when None), scored
    on the same masked positions."""
    data = MaskedBatches(ids, min(context, model.cfg.context), batch, tokenizer)
    counts = unigram_counts(ids, tokenizer.vocab_size) if train_counts is None else np.asarray(train_counts)
    counts = counts.astype(np.float64).copy()
    counts[[i for i in data.never if i < len(counts)]] = -1
    unigram = int(np.argmax(counts))
    gen = torch.Generator().manual_seed(int(seed))
    was_training = model.training
    model.eval()
    loss = right = base = total = 0.0
    for _ in range(int(batches)):
        x, y = data.sample(gen)  # (B, T), (B, T)
        logits, batch_loss, _ = model(x, y)
        chosen = y != IGNORE
        n = int(chosen.sum())
        loss += float(batch_loss) * n
        right += float((logits.argmax(-1)[chosen] == y[chosen]).sum())
        base += float((y[chosen] == unigram).sum())
        total += n
    model.train(was_training)
    total = max(total, 1.0)
    return {"loss": loss / total, "accuracy": right / total, "unigram_accuracy": base / total,
            "masked_tokens": int(total), "unigram_token": tokenizer.token_text(unigram)}


# --- GPT vs BERT ------------------------------------------------------------------------------------------


@dataclass
class GptVsBert:
    """The same token guessed by a next-token model (from the tokens before it) and by a masked model (from
    all the others). Attention matrices are over ``tokens`` only: the rows and columns of each model's own
    prefix (<|bos|>) and suffix are left out, so a causal row sums to 1 minus its attention to the start."""

    tokens: list[str]  # the text's tokens, no special tokens
    position: int  # index into tokens of the guessed token
    true_token: str
    causal_top: list[tuple[str, float]]  # p(x_i | x_<i), best first
    masked_top: list[tuple[str, float]]  # p(x_i | all the others), x_i replaced by [MASK]
    causal_p_true: float
    masked_p_true: float
    causal_attention: np.ndarray  # (L, H, T, T) float32, 0 above the diagonal
    masked_attention: np.ndarray  # (L, H, T, T) float32, on the masked input (column ``position`` is [MASK])


def _same_vocabulary(a: Tokenizer, b: Tokenizer) -> bool:
    return a.vocab_size == b.vocab_size and a.hf.get_vocab(with_added_tokens=True) == \
        b.hf.get_vocab(with_added_tokens=True)


@torch.no_grad()
def side_by_side(causal: LoadedModel, masked: LoadedModel, text: str, position: int, top: int = 10) -> GptVsBert:
    """GPT vs BERT on one token of ``text`` (seed 001: autoregressive p(x_i | x_<i) vs masking
    p(x_i | x_1..x_{i-1}, x_{i+1}..x_n)). ``causal`` and ``masked`` are ``engine.checkpoint.LoadedModel`` s
    with the same tokenizer vocabulary."""
    from engine.inference import require_decoder

    cm, ct, mm, mt = causal.model, causal.tokenizer, masked.model, masked.tokenizer
    require_decoder(cm)
    mask_id = require_masked(mm, mt)
    if not _same_vocabulary(ct, mt):
        raise UserError(f"{_label(cm)} and {_label(mm)} have different tokenizers (vocabularies); GPT vs BERT "
                        "needs two models with the same tokenizer, such as default-bpe and default-mlm")
    if not text:
        raise UserError("the text is empty")
    ids = ct.encode(text).ids
    n = len(ids)
    if not 0 <= int(position) < n:
        raise UserError(f"position {position} is outside the text's {n} tokens (0..{n - 1})")
    position = int(position)
    cpre, mpre, msuf = ct.prefix_ids, mt.prefix_ids, mt.suffix_ids
    if position == 0 and not cpre:
        raise UserError(f"{_label(cm)} has no start token: nothing predicts the first token")
    for model, extra in ((cm, len(cpre) + len(ct.suffix_ids)), (mm, len(mpre) + len(msuf))):
        if n + extra > model.cfg.context:
            raise UserError(f"the text is {n} tokens and {_label(model)}'s context is {model.cfg.context} (with "
                            "its special tokens); shorten it")
    true_id = ids[position]
    # causal: the input is the prefix and the text; position p + i - 1 predicts token i
    c_in = cpre + ids
    logits, _, trace = cm(torch.tensor([c_in]), probe=Probe())
    c_probs = torch.softmax(logits[0, len(cpre) + position - 1].double(), dim=-1)
    c_att = trace.stacked_attention()[0][:, :, len(cpre):, len(cpre):]  # (L, H, T, T)
    # masked: the prefix, the text with token i as [MASK], the suffix
    m_in = mt.wrap(ids[:position] + [mask_id] + ids[position + 1:])
    logits, _, trace = mm(torch.tensor([m_in]), probe=Probe())
    m_probs = torch.softmax(logits[0, len(mpre) + position].double(), dim=-1)
    m_att = trace.stacked_attention()[0][:, :, len(mpre):len(mpre) + n, len(mpre):len(mpre) + n]
    return GptVsBert(
        [ct.token_text(i) for i in ids], position, ct.token_text(true_id),
        _top(c_probs, ct, sorted(set(ct.never_generate) | set(ct.special_ids)), int(top)),
        _top(m_probs, mt, never_ids(mt), int(top)),
        float(c_probs[true_id]), float(m_probs[true_id]),
        c_att.float().numpy().copy(), m_att.float().numpy().copy())
