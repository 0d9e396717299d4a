"""Translating: batches, greedy search and beam search with the alignment of every hypothesis.

Greedy search (seed 001, "Greedy sampling") takes the most probable word at every step until ``<eos>``.
Beam search is the engine's own (engine.decoding.search.BeamSearch, seed 001 Figure 10.10): the same loop,
the same :class:`engine.decoding.tree.BeamTree` (so the beam-tree widget draws a translation's search), fed
by :class:`StepDecoder`, which runs a translator's ``decode_step`` over the encoded source. Every node of
the tree keeps the attention row that predicted its word, so each hypothesis carries its alignment
(target step x source word; per layer and head for the transformer). With ``alpha = 0`` (no length
normalisation) beam search with k = 1 is greedy search (tested).

``<pad>``, ``<bos>`` and ``<unk>`` are never generated (their log-probabilities are -inf), as in
engine.decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from engine.decoding.search import BeamSearch, Hypothesis, TreeState
from engine.errors import UserError
from engine.seq2seq.grammar import Pair
from engine.seq2seq.models import Seq2Seq
from engine.seq2seq.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID, decode_ids, encode_words, words_of
from engine.tokenizers import Tokenizer

NEVER = (PAD_ID, BOS_ID, UNK_ID)
MAX_TEXT_CHARS = 100_000


@dataclass
class Translator:
    """A model with its two vocabularies (and, when loaded, its checkpoint's settings)."""

    model: Seq2Seq
    src_vocab: Tokenizer
    tgt_vocab: Tokenizer
    data: dict = field(default_factory=dict)  # the data it was trained on (engine.seq2seq.data spec)
    info: dict = field(default_factory=dict)  # training settings and results

    @property
    def arch(self) -> str:
        return self.model.cfg.arch


@dataclass
class Source:
    """A sentence to translate: its words, their ids, and the words the vocabulary lacks (read as <unk>)."""

    words: list[str]
    ids: list[int]
    unknown: list[str]


def prepare_source(tr: Translator, text: str) -> Source:
    """Split and look up a sentence; refuse an empty one or one longer than the model reads."""
    if not isinstance(text, str) or not text.strip():
        raise UserError("the text to translate is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise UserError(f"the text is {len(text):,} characters; the limit is {MAX_TEXT_CHARS:,}")
    words = words_of(tr.src_vocab, text)
    limit = tr.model.cfg.max_source
    if len(words) > limit:
        raise UserError(f"the text has {len(words)} words; this model reads at most {limit} (its max_source)")
    ids = encode_words(tr.src_vocab, words)
    unknown = list(dict.fromkeys(w for w, i in zip(words, ids, strict=True) if i == UNK_ID))
    return Source(words, ids, unknown)


# --- batches ----------------------------------------------------------------------------------------


def pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids (B, T) and mask (B, T), True at real tokens."""
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), PAD_ID, dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, : len(r)] = torch.tensor(r, dtype=torch.long)
    return ids, ids != PAD_ID


@dataclass
class Batch:
    src: torch.Tensor  # (B, S)
    src_mask: torch.Tensor  # (B, S) bool
    tgt_in: torch.Tensor  # (B, T): <bos> y_1 .. y_n (padded)
    tgt_out: torch.Tensor  # (B, T): y_1 .. y_n <eos> (padded)


def make_batch(tr: Translator, pairs: list[Pair]) -> Batch:
    """Teacher-forcing tensors of sentence pairs (cut to the model's max_source / max_target words)."""
    cfg = tr.model.cfg
    src = [encode_words(tr.src_vocab, p.source[: cfg.max_source]) for p in pairs]
    tgt = [encode_words(tr.tgt_vocab, p.target[: cfg.max_target]) for p in pairs]
    src_ids, src_mask = pad(src)
    tgt_in, _ = pad([[BOS_ID, *t] for t in tgt])
    tgt_out, _ = pad([[*t, EOS_ID] for t in tgt])
    return Batch(src_ids, src_mask, tgt_in, tgt_out)


# --- greedy -----------------------------------------------------------------------------------------


@dataclass
class Translation:
    """One translation: source and target words, the log-probability of each target word (and of <eos>),
    and the alignment (T, L, H, S): T = target words + <eos>, L layers x H heads (1 x 1 for the attention
    RNN), S source words; None for the RNN without attention."""

    source: list[str]
    target: list[str]
    ids: list[int]
    logprobs: list[float]
    alignment: np.ndarray | None
    unknown: list[str] = field(default_factory=list)
    score: float = 0.0
    node: int | None = None  # its last node in the beam tree (beam search)

    @property
    def text(self) -> str:
        return " ".join(self.target)

    @property
    def logprob(self) -> float:
        return float(sum(self.logprobs))

    def matrix(self, layer: int = -1, head: int | None = None) -> np.ndarray | None:
        """(T, S) weights of one layer: one head, or the mean over the heads (the default view)."""
        if self.alignment is None:
            return None
        a = self.alignment[:, layer]  # (T, H, S)
        return a.mean(axis=1) if head is None else a[:, head]

    def alignment_dict(self, all_heads: bool = False) -> dict:
        """The alignment as JSON: source and target tokens, the (T, S) weights, what they show."""
        out: dict = {"source": self.source, "target": [*self.target, "<eos>"][: len(self.ids)] or ["<eos>"]}
        m = self.matrix()
        if m is None:
            out |= {"weights": None, "shown": "none: this model has no attention (only the encoder's last "
                                               "state reaches the decoder)"}
            return out
        L, H = self.alignment.shape[1:3]
        out |= {"weights": np.round(m, 5).tolist(), "layers": L, "heads": H,
                "shown": "attention weights" if L * H == 1 else "mean over the heads of the last layer"}
        if all_heads and L * H > 1:
            out["per_layer_head"] = np.round(self.alignment.transpose(1, 2, 0, 3), 5).tolist()  # (L, H, T, S)
        return out

    def to_dict(self, all_heads: bool = False) -> dict:
        return {"translation": self.text, "tokens": self.target, "logprob": self.logprob, "score": self.score,
                "unknown": self.unknown, "alignment": self.alignment_dict(all_heads)}


def _masked(logp: torch.Tensor) -> torch.Tensor:
    logp = logp.clone()
    logp[:, list(NEVER)] = float("-inf")
    return logp


@torch.inference_mode()
def greedy_ids(model: Seq2Seq, src: torch.Tensor, src_mask: torch.Tensor, max_len: int | None = None,
               capture: bool = False) -> tuple[list[list[int]], list[list[float]], list[np.ndarray | None]]:
    """Greedy search for a batch: per sentence the ids (ending with <eos> unless cut at ``max_len``, by
    default twice the longest source + 10 words, within the model's max_target), the log-probability of
    each, and with ``capture`` the alignment (T, L, H, S) (else None)."""
    model.eval()
    B = src.shape[0]
    if max_len is None:  # a translation is rarely twice as long as its source: stop runaway repetition early
        max_len = min(model.cfg.max_target, 2 * int(src_mask.sum(1).max()) + 10)
    memory = model.encode(src, src_mask)
    state = model.start(memory)
    prev = torch.full((B,), BOS_ID, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    ids: list[list[int]] = [[] for _ in range(B)]
    logps: list[list[float]] = [[] for _ in range(B)]
    rows: list[list[np.ndarray]] = [[] for _ in range(B)]
    for _ in range(max_len + 1):
        logp, state, align = model.decode_step(memory, state, prev)
        logp = _masked(logp)
        best, tok = logp.max(dim=-1)  # (B,)
        for b in torch.nonzero(~done).flatten().tolist():
            ids[b].append(int(tok[b]))
            logps[b].append(float(best[b]))
            if capture and align is not None:
                rows[b].append(align[b].numpy())
        done |= tok == EOS_ID
        if bool(done.all()):
            break
        prev = torch.where(done, torch.full_like(tok, EOS_ID), tok)
    aligns = [np.stack(r) if r else None for r in rows]
    return ids, logps, aligns


def greedy(tr: Translator, text: str) -> Translation:
    """The greedy translation of one sentence, with its alignment."""
    source = prepare_source(tr, text)
    src, mask = pad([source.ids])
    ids, logps, aligns = greedy_ids(tr.model, src, mask, capture=True)
    words = decode_ids(tr.tgt_vocab, ids[0])
    return Translation(source.words, words, ids[0], logps[0], aligns[0], source.unknown, float(sum(logps[0])))


def translate_batch(tr: Translator, sources: list[list[str]], batch: int = 64) -> list[list[str]]:
    """Greedy translations of many sentences (already split in words), batched by length."""
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out: list[list[str]] = [[] for _ in sources]
    limit = tr.model.cfg.max_source
    for start in range(0, len(order), batch):
        chunk = order[start:start + batch]
        src, mask = pad([encode_words(tr.src_vocab, sources[i][:limit]) or [UNK_ID] for i in chunk])
        ids, _, _ = greedy_ids(tr.model, src, mask)
        for i, row in zip(chunk, ids, strict=True):
            out[i] = decode_ids(tr.tgt_vocab, row)
    return out


# --- beam search ------------------------------------------------------------------------------------


class StepDecoder:
    """The engine's beam search's view of a translator: next-word log-probabilities for B target prefixes
    of the same length, the source encoded once. ``align`` holds the rows (B, L, H, S) of the last call
    (None without attention), in the order of its rows."""

    def __init__(self, model: Seq2Seq, src_ids: list[int]) -> None:
        self.model = model
        src, mask = pad([src_ids])
        with torch.inference_mode():
            self.source = model.encode(src, mask)  # batch of one
        self.memory = self.source
        self.state = None
        self.align: np.ndarray | None = None

    @torch.inference_mode()
    def prefill(self, seqs: list[list[int]]) -> torch.Tensor:
        B = len(seqs)
        self.memory = self.source.select(torch.zeros(B, dtype=torch.long))
        self.state = self.model.start(self.memory)
        prev = torch.full((B,), BOS_ID, dtype=torch.long)
        logp, self.state, align = self.model.decode_step(self.memory, self.state, prev)
        rows = torch.as_tensor(seqs, dtype=torch.long).reshape(B, -1)
        for t in range(rows.shape[1]):  # the prefix, teacher-forced
            logp, self.state, align = self.model.decode_step(self.memory, self.state, rows[:, t])
        self.align = None if align is None else align.numpy()
        return logp

    @torch.inference_mode()
    def step(self, tokens: list[int], parents: list[int] | None = None) -> torch.Tensor:
        tokens_t = torch.as_tensor(tokens, dtype=torch.long).reshape(-1)
        if parents is not None:
            self.memory, self.state = self.model.select(self.memory, self.state,
                                                        torch.as_tensor(parents, dtype=torch.long))
        logp, self.state, align = self.model.decode_step(self.memory, self.state, tokens_t)
        self.align = None if align is None else align.numpy()
        return logp


class TranslationSearch(BeamSearch):
    """:class:`engine.decoding.search.BeamSearch` over a translator (step by step, forcing, the same tree);
    ``alignments[node]`` is the attention row (L, H, S) that chose the node's word."""

    def __init__(self, tr: Translator, text: str, k: int = 4, alpha: float = 1.0, max_new: int | None = None,
                 **kw) -> None:
        self.translator = tr
        self.source = prepare_source(tr, text)
        self.alignments: dict[int, np.ndarray] = {}
        if max_new is None:  # greedy's limit (see greedy_ids), and <eos>
            max_new = min(tr.model.cfg.max_target, 2 * len(self.source.ids) + 10) + 1
        super().__init__(tr.model, tr.tgt_vocab, "", k, alpha, max_new, **kw)  # type: ignore[arg-type]

    def make_decoder(self, window_keep: int | None, use_cache: bool) -> StepDecoder:  # type: ignore[override]
        return StepDecoder(self.translator.model, self.source.ids)

    def step(self) -> list[int]:
        rows, beam = self.decoder.align, list(self.beam)  # the rows that score this step's candidates
        new = super().step()
        if rows is not None:
            for n in new:
                self.alignments[n] = rows[beam.index(self.tree[n].parent)]
        return new

    def hypothesis(self, node_id: int) -> Hypothesis:
        h = super().hypothesis(node_id)
        h.generated = h.text = " ".join(decode_ids(self.tokenizer, h.ids))
        return h

    def translation(self, node_id: int) -> Translation:
        """The hypothesis ending at a node, with its alignment (T, L, H, S) along its path."""
        path = self.tree.path(node_id)[1:]
        ids = [self.tree[i].token_id for i in path]
        rows = [self.alignments[i] for i in path if i in self.alignments]
        align = np.stack(rows) if rows and len(rows) == len(path) else None
        node = self.tree[node_id]
        return Translation(self.source.words, decode_ids(self.tokenizer, ids), ids,  # type: ignore[arg-type]
                           [self.tree[i].logprob for i in path], align, self.source.unknown, node.score, node_id)

    def translations(self) -> list[Translation]:
        """The n-best list, best first."""
        return [self.translation(h.node) for h in self.result().nbest]

    def state(self) -> TreeState:
        """The search as the Decoding view's beam-tree widget draws it, with the greedy path laid over it."""
        g = greedy(self.translator, " ".join(self.source.words))
        nbest = [h.to_dict() for h in self.result().nbest] if self.done else []
        gone = self.tree.departure(g.ids, () if self.done else self.beam)
        tokens = [self.tokenizer.id_to_token(i) for i in g.ids]
        return TreeState([n.to_dict() for n in self.tree.nodes], list(self.beam), list(self.pool), self.done,
                         nbest, self.tree.match(g.ids), g.text, self.alpha, " ".join(self.source.words), self.k,
                         tokens, g.logprob, gone)


def beam(tr: Translator, text: str, k: int = 4, alpha: float = 1.0, **kw) -> TranslationSearch:
    """Run a :class:`TranslationSearch` to the end; ``.translations()`` is the n-best list."""
    search = TranslationSearch(tr, text, k, alpha, **kw)
    search.run()
    return search


def translate(tr: Translator, text: str, k: int = 1, alpha: float = 1.0) -> Translation:
    """Greedy (k = 1) or the best of beam search of width k."""
    if k <= 1:
        return greedy(tr, text)
    return beam(tr, text, k, alpha).translations()[0]
