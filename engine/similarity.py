"""Sentence embeddings and semantic similarity with an encoder (seed 003: an encoder "outputs a continuous
representation (embedding) of the input text"; BERT-style models "learn rich contextual representations").

sentence-transformers' recipe for all-MiniLM-L6-v2: the final hidden states of the real tokens ([CLS] and
[SEP] included, padding excluded) are averaged, and the mean is scaled to unit length, so the dot product
of two embeddings is their cosine. Texts are cut to the model's ``max_seq_length`` (256 word pieces for
MiniLM, from its sentence_bert_config.json) or its context.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import LoadedModel
from engine.errors import UserError
from engine.finetune import encode, pad_batch
from engine.tasks import CancelToken

BATCH = 64
MIN_LINE_CHARS = 20
_CORPUS_CACHE: dict[tuple[str, str, int], tuple[list[tuple[str, str]], np.ndarray]] = {}


def max_length(loaded: LoadedModel) -> int:
    """Tokens an embedded text may have: sentence-transformers' ``max_seq_length`` when the model's folder
    says it, else the model's context."""
    context = loaded.model.cfg.context
    path = Path(loaded.path) / "sentence_bert_config.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("max_seq_length") if path.is_file() else None
    except (OSError, ValueError, AttributeError):
        value = None
    return min(context, value) if isinstance(value, int) and not isinstance(value, bool) and value > 2 else context


@torch.no_grad()
def embed(loaded: LoadedModel, sentences: list[str], token: CancelToken | None = None) -> np.ndarray:
    """Unit-length mean-pooled embeddings (N, d) of ``sentences`` (see the module docstring)."""
    if not sentences:
        raise UserError("give at least one sentence")
    tok, model = loaded.tokenizer, loaded.model
    T = max_length(loaded)
    seqs = [encode(tok, s, T) for s in sentences]
    pad = tok.pad_id if tok.pad_id is not None else 0
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths together: little padding
    out = np.zeros((len(seqs), model.cfg.d), dtype=np.float32)
    model.eval()
    for start in range(0, len(order), BATCH):
        if token is not None:
            token.check()
        chunk = order[start:start + BATCH]
        idx, mask = pad_batch([seqs[i] for i in chunk], pad)  # (B, T)
        h, _, _ = model(idx, attention_mask=mask, head=False)  # (B, T, d)
        m = mask.to(h.dtype).unsqueeze(-1)  # (B, T, 1)
        mean = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)  # (B, d)
        out[chunk] = torch.nn.functional.normalize(mean, p=2, dim=1).numpy()
    return out


def similarity_matrix(loaded: LoadedModel, sentences: list[str]) -> np.ndarray:
    """Cosine similarity (N, N) of every pair of sentences."""
    e = embed(loaded, sentences)
    return e @ e.T


def corpus_lines(corpus: str = "shakespeare", limit: int = 5000) -> list[tuple[str, str]]:
    """Up to ``limit`` distinct spoken lines (line, play) of at least 20 characters, spread evenly over the
    corpus (every k-th line)."""
    if corpus != "shakespeare":
        raise UserError(f"unknown corpus {corpus!r}; nearest lines search the shakespeare corpus")
    if limit < 1:
        raise UserError("limit must be 1 or more")
    from engine.corpus import shakespeare_records

    seen: set[str] = set()
    lines: list[tuple[str, str]] = []
    for rec in shakespeare_records():
        if rec.kind != "speech":
            continue
        for line in rec.text.split("\n"):
            line = line.strip()
            if len(line) >= MIN_LINE_CHARS and line not in seen:
                seen.add(line)
                lines.append((line, rec.play))
    step = max(1, len(lines) // limit)
    return lines[::step][:limit]


def nearest_lines(loaded: LoadedModel, sentence: str, k: int = 10, corpus: str = "shakespeare", limit: int = 5000,
                  token: CancelToken | None = None) -> list[tuple[str, str, float]]:
    """The ``k`` corpus lines most similar to ``sentence``: (line, play, cosine), best first. The corpus's
    lines are embedded once per model, corpus and limit, and kept in memory."""
    if k < 1:
        raise UserError("k must be 1 or more")
    key = (f"{loaded.config.get('name')}:{loaded.path}", corpus, limit)
    if key not in _CORPUS_CACHE:
        lines = corpus_lines(corpus, limit)
        _CORPUS_CACHE[key] = (lines, embed(loaded, [line for line, _ in lines], token))
    lines, vectors = _CORPUS_CACHE[key]
    cos = vectors @ embed(loaded, [sentence])[0]  # (N,)
    best = np.argsort(-cos)[:k]
    return [(lines[i][0], lines[i][1], float(cos[i])) for i in best]
