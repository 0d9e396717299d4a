"""Next-token logits for a batch of equal-length sequences, with or without the key/value cache.

The window rule (our models have learned positions 0..T-1, T = ``context``; generation may go on
beyond T). Let s be the prompt and generated tokens (without <|bos|>), n = len(s), P = the prompt's
length, and ``keep`` a number of history tokens in [1, T-1] (default T // 2). The model predicts the
next token from the window ``[<|bos|>] + s[start:]``, where

- at the start ``start = max(0, P - (T - 1))``: the prompt's last T - 1 tokens, as ``prompt_ids`` does;
- after each appended token, if the window would be longer than T, ``start = n - keep``: the window
  restarts from <|bos|> and the last ``keep`` tokens; otherwise start stays.

So while the text fits the context (n + 1 <= T) the window is the whole text, exactly as without a
window. Beyond it, the window grows from keep + 1 to T tokens and restarts. With the cache, a restart
re-fills the cache with one pass over its keep + 1 tokens and every other step feeds one token; without
the cache every step runs the whole window. Both compute the same function of the sequence (equal up
to float rounding), which the tests check over 200 generated tokens. ``keep = T - 1`` is the sliding
window ([bos] + last T-1 tokens at every step, ``--window-keep T-1``), with no gain from the cache;
a small ``keep`` restarts rarely but forgets more at each restart; T // 2 balances both.
"""

from __future__ import annotations

import torch

from engine.errors import UserError
from engine.model import GPT, KVCache


def default_keep(context: int) -> int:
    return max(1, context // 2)


def check_keep(context: int, keep: int | None) -> int:
    if context < 2:
        raise UserError(f"decoding needs a model context of at least 2 (<|bos|> and one token); got {context}")
    keep = default_keep(context) if keep is None else int(keep)
    if not 1 <= keep <= context - 1:
        raise UserError(f"the window history must be between 1 and {context - 1} tokens (got {keep})")
    return keep


def window_start(prompt_len: int, n: int, context: int, keep: int) -> int:
    """Where the window of a sequence of n tokens (prompt of prompt_len) starts, by the rule above."""
    start = max(0, prompt_len - (context - 1))
    if n - start <= context - 1:
        return start
    period = context - keep  # tokens between two restarts
    restarts = (n - start - context) // period + 1
    return start + context - keep + (restarts - 1) * period


class Decoder:
    """Logits of the next token for B sequences of the same length, under the window rule.

    ``prefill(seqs)`` starts from (B, n) token ids; ``step(tokens, parents)`` appends ``tokens[b]`` to
    sequence ``parents[b]`` (beam search reorders; ``None`` keeps rows) and returns the new logits (B, V).
    ``use_cache=False`` recomputes the whole window every step: the reference the cache must equal.
    """

    def __init__(self, model: GPT, bos_id: int, prompt_len: int, keep: int | None = None,
                 use_cache: bool = True) -> None:
        self.model = model
        self.bos_id = bos_id
        self.T = model.cfg.context
        self.keep = check_keep(self.T, keep)
        self.prompt_len = prompt_len
        self.use_cache = use_cache
        self.seqs = torch.zeros(1, 0, dtype=torch.long)  # (B, n) without <|bos|>
        self.start = 0
        self.cache: KVCache | None = None
        self.refills = 0  # passes over a whole window (the first fill and every restart)

    @property
    def length(self) -> int:
        return self.seqs.shape[1]

    def _window(self) -> torch.Tensor:
        bos = torch.full((self.seqs.shape[0], 1), self.bos_id, dtype=torch.long)
        return torch.cat([bos, self.seqs[:, self.start:]], dim=1)  # (B, <= T)

    def _full(self) -> torch.Tensor:
        window = self._window()
        self.refills += 1
        if not self.use_cache:
            logits, _, _ = self.model(window)
            return logits[:, -1]
        self.cache = KVCache(self.model.cfg, window.shape[0], device=window.device,
                             dtype=self.model.wte.weight.dtype)
        return self.model.forward_cached(window, self.cache)

    @torch.inference_mode()
    def prefill(self, seqs: torch.Tensor | list[list[int]]) -> torch.Tensor:
        self.seqs = torch.as_tensor(seqs, dtype=torch.long).reshape(len(seqs), -1)
        self.start = window_start(self.prompt_len, self.length, self.T, self.keep)
        return self._full()

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor | list[int], parents: torch.Tensor | list[int] | None = None) -> torch.Tensor:
        tokens = torch.as_tensor(tokens, dtype=torch.long).reshape(-1, 1)
        if parents is not None:
            parents = torch.as_tensor(parents, dtype=torch.long)
            self.seqs = self.seqs.index_select(0, parents)
        self.seqs = torch.cat([self.seqs, tokens], dim=1)
        start = window_start(self.prompt_len, self.length, self.T, self.keep)
        if start != self.start or not self.use_cache or self.cache is None:
            self.start = start
            return self._full()  # a restart (or no cache): one pass over the whole window
        if parents is not None:
            self.cache.reorder(parents)
        return self.model.forward_cached(tokens, self.cache)
