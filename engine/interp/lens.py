"""The logit lens: read the residual stream after every layer as if the model ended there.

The residual stream x^(l) after block l (Eq. 11.21: the composition of the first l blocks applied to the
embeddings; l = 0 is the embeddings themselves) goes through the model's final norm and unembedding, as the
last block's output does: p^(l)(. | x_<=t) = softmax(W_U LN_f(x_t^(l))) (seed 003: unembedding and softmax
over the vocabulary). At l = L this is exactly the model's own output. For a next-token model each position
predicts the next token; for a masked model (default-mlm) the token at that position.

An encoder without an unembedding (all-MiniLM-L6-v2: no masked-LM head) has nothing to read it with: one
UserError.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import UserError
from engine.interp.text import text_input
from engine.model import GPT, Probe
from engine.tokenizers import Tokenizer


@dataclass
class LogitLens:
    tokens: list[str]  # the input tokens (with the model's start token)
    layers: list[str]  # "embeddings", "layer 0", ..., "layer L-1": what each row of the arrays reads
    top_ids: np.ndarray  # (L + 1, T, k) int64, the k most probable tokens, best first
    top_probs: np.ndarray  # (L + 1, T, k) float32
    top_tokens: list[list[list[str]]]  # [layer][position][rank], readable
    target_probs: np.ndarray  # (L + 1, T) float32, p of the token that really follows (next) or stands there (mlm)
    objective: str  # "next": position t predicts token t + 1; "mlm": token t itself
    truncated: int = 0

    def to_dict(self) -> dict:
        return {"objective": self.objective, "tokens": self.tokens, "layers": self.layers,
                "top": [[[[t, float(p)] for t, p in zip(toks, probs, strict=True)]
                         for toks, probs in zip(layer_t, layer_p, strict=True)]
                        for layer_t, layer_p in zip(self.top_tokens, self.top_probs, strict=True)],
                "target_probs": [[None if np.isnan(p) else float(p) for p in row] for row in self.target_probs],
                "truncated": self.truncated}


def require_unembedding(model: GPT) -> None:
    if not model.has_lm_head:
        raise UserError(f"{model.name or 'this model'} is an encoder without an unembedding (no masked-LM head): "
                        "the logit lens needs one to read the residual stream")


@torch.no_grad()
def logit_lens(model: GPT, tokenizer: Tokenizer, text: str, k: int = 5) -> LogitLens:
    """Each layer's top-``k`` tokens and their probabilities at every position of ``text`` (see the module
    docstring); one layer is unembedded at a time (L + 1 times T x V would be 1.5 GB for SmolLM2 on 256
    tokens)."""
    require_unembedding(model)
    mlm = getattr(model, "objective", "next") == "mlm" or not model.cfg.causal
    inp = text_input(model, tokenizer, text, min_tokens=1)
    ids = inp.ids
    _, _, trace = model(inp.tensor, probe=Probe(attention=False, residual=True), head=False)
    T, k = len(ids), max(1, min(int(k), model.cfg.vocab_size))
    targets = torch.tensor(ids if mlm else ids[1:])  # what each position should predict
    n = len(targets)
    top_p = np.zeros((len(trace.residual), T, k), np.float32)
    top_i = np.zeros((len(trace.residual), T, k), np.int64)
    target_p = np.full((len(trace.residual), T), np.nan, np.float32)
    for layer, x in enumerate(trace.residual):  # x (1, T, d)
        probs = torch.softmax(model.lm_head(model.ln_f(x[0])).float(), dim=-1)  # (T, V)
        p, i = probs.topk(k, dim=-1)
        top_p[layer], top_i[layer] = p.numpy(), i.numpy()
        target_p[layer, :n] = probs[torch.arange(n), targets].numpy()
    names = ["embeddings"] + [f"layer {i}" for i in range(model.cfg.L)]
    words = [[[tokenizer.token_text(int(j)) for j in row] for row in layer] for layer in top_i]
    return LogitLens(inp.tokens, names, top_i, top_p, words, target_p, "mlm" if mlm else "next", inp.truncated)
