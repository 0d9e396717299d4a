"""A text as an interpretability pass reads it, and the forward pass taken apart (embed, blocks, unembed) so
that a batch of interventions can start at the layer it changes.

The input is the model's prefix (``<|bos|>``; nothing for SmolLM2) + the text's tokens (+ BERT's suffix).
A text longer than the context keeps its last tokens, and says how many it dropped (as engine.capture).
Position t predicts token t + 1; the loss of a text is the mean of -log p(x_{t+1} | x_<=t) over its
predicted tokens (seed 000: p(x_1..x_T) = prod_t p(x_t | x_<t)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.errors import UserError
from engine.model import GPT
from engine.tokenizers import Tokenizer

NLL_CHUNK_FLOATS = 32 * 2**20  # logits computed at once when scoring a batch (128 MB of float32)


@dataclass
class TextInput:
    ids: list[int]  # the model's input: prefix + the text's (last) tokens + suffix
    tokens: list[str]  # each input token, readable
    truncated: int  # tokens dropped from the start of the text (longer than the context)

    @property
    def tensor(self) -> torch.Tensor:
        return torch.tensor([self.ids])  # (1, T)

    @property
    def targets(self) -> torch.Tensor:
        return torch.tensor(self.ids[1:])  # (T - 1,): what positions 0..T-2 predict


def text_input(model: GPT, tokenizer: Tokenizer, text: str, min_tokens: int = 2, what: str = "the text") -> TextInput:
    """``text`` as the model's input (see the module docstring); a UserError for an empty text or one with
    fewer than ``min_tokens`` input tokens (2: one to predict from, one to predict)."""
    if not text:
        raise UserError(f"{what} is empty")
    prefix, suffix = tokenizer.prefix_ids, tokenizer.suffix_ids
    room = model.cfg.context - len(prefix) - len(suffix)
    if room < 1:
        raise UserError(f"the model's context ({model.cfg.context}) has no room for a text after its special tokens")
    ids = tokenizer.encode(text).ids
    dropped = max(0, len(ids) - room)
    full = prefix + ids[dropped:] + suffix
    if len(full) < min_tokens:
        raise UserError(f"{what} is {len(ids)} token(s) long; this needs at least {min_tokens} input tokens "
                        f"(with the model's {len(prefix)} start token(s))")
    return TextInput(full, [tokenizer.token_text(i) for i in full], dropped)


def embed_input(model: GPT, idx: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
    """The input of block 0 (B, T, d) and the rotary tables (or None), as :meth:`Transformer.forward`."""
    return model.embed(idx, 0), model.rope(0, idx.shape[1])


def run_blocks(model: GPT, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None, start: int = 0,
               keep: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Blocks ``start``.. on the residual stream x (B, T, d) (Eq. 11.21 from layer ``start`` on); with
    ``keep``, each block's input is appended to it, then the last block's output."""
    for block in model.blocks[start:]:
        if keep is not None:
            keep.append(x)
        x = block(x, rope=rope)
    if keep is not None:
        keep.append(x)
    return x  # (B, T, d)


def token_nll(model: GPT, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log p(target) at positions 0..n-1 (n = len(targets)) of the final residual stream x (B, T, d), through
    the final norm and the unembedding, in float64; (B, n). Rows are unembedded a few at a time (a 49k
    vocabulary over a batch of long texts would not fit at once)."""
    B, n = x.shape[0], len(targets)
    step = max(1, NLL_CHUNK_FLOATS // max(1, n * model.cfg.vocab_size))
    out = []
    for a in range(0, B, step):
        logits = model.lm_head(model.ln_f(x[a:a + step, :n])).double()  # (b, n, V)
        out.append(F.cross_entropy(logits.transpose(1, 2), targets.expand(logits.shape[0], n), reduction="none"))
    return torch.cat(out)  # (B, n)
