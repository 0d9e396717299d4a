"""Next-token logits for a batch of equal-length sequences, with or without the key/value cache.

The window rule (our models have learned positions 0..T-1, T = ``context``; generation may go on
beyond T). Let s be the prompt and generated tokens (without <|bos|>), n = len(s), P = the prompt's
length, and ``keep`` a number of history tokens in [1, T-1] (default T // 2). The model predicts the
next token from the window ``[<|bos|>] + s[start:]`` (a model's own start tokens in place of <|bos|>,
``tokenizer.prefix_ids``; none for SmolLM2, and T - 1 below is then T), where

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


def default_keep(context: int, prefix: int = 1) -> int:
    return min(context - prefix, max(1, context // 2))


def check_keep(context: int, keep: int | None, prefix: int = 1) -> int:
    """The window history, in [1, context - prefix] (``prefix``: the start tokens every window begins with)."""
    room = context - prefix
    if room < 1 or context < 2:
        raise UserError(f"decoding needs a model context of at least 2 (its start and one token); got {context}")
    keep = default_keep(context, prefix) if keep is None else int(keep)
    if not 1 <= keep <= room:
        raise UserError(f"the window history must be between 1 and {room} tokens (got {keep})")
    return keep


def window_start(prompt_len: int, n: int, context: int, keep: int, prefix: int = 1) -> int:
    """Where the window of a sequence of n tokens (prompt of prompt_len) starts, by the rule above (with
    ``prefix`` start tokens in front of every window: T - 1 in the rule is then T - prefix)."""
    room = context - prefix
    start = max(0, prompt_len - room)
    if n - start <= room:
        return start
    period = room + 1 - keep  # tokens between two restarts
    restarts = (n - start - room - 1) // period + 1
    return start + room + 1 - keep + (restarts - 1) * period


class Decoder:
    """Logits of the next token for B sequences of the same length, under the window rule.

    ``prefill(seqs)`` starts from (B, n) token ids; ``step(tokens, parents)`` appends ``tokens[b]`` to
    sequence ``parents[b]`` (beam search reorders; ``None`` keeps rows) and returns the new logits (B, V).
    ``use_cache=False`` recomputes the whole window every step: the reference the cache must equal.
    """

    def __init__(self, model: GPT, prefix: int | list[int], prompt_len: int, keep: int | None = None,
                 use_cache: bool = True) -> None:
        from engine.inference import require_decoder

        require_decoder(model)
        self.model = model
        self.prefix = [prefix] if isinstance(prefix, int) else [int(i) for i in prefix]  # <|bos|>, or none
        self.T = model.cfg.context
        self.keep = check_keep(self.T, keep, len(self.prefix))
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
        pre = torch.tensor(self.prefix, dtype=torch.long).expand(self.seqs.shape[0], -1)
        return torch.cat([pre, self.seqs[:, self.start:]], dim=1)  # (B, <= T)

    def _full(self) -> torch.Tensor:
        window = self._window()
        if window.shape[1] == 0:
            raise UserError(f"{self.model.name or 'this model'} has no start token: the prompt must hold at "
                            "least one token")
        self.refills += 1
        if not self.use_cache:
            if window.numel() * self.model.cfg.vocab_size <= 1 << 24:  # small: the whole pass, as always
                return self.model(window)[0][:, -1]
            h, _, _ = self.model(window, head=False)  # a large vocabulary: unembed the last position only
            return self.model.lm_head(h[:, -1])
        self.cache = KVCache(self.model.cfg, window.shape[0], device=window.device,
                             dtype=self.model.wte.weight.dtype, capacity=window.shape[1] + 256)
        return self.model.forward_cached(window, self.cache)

    @torch.inference_mode()
    def prefill(self, seqs: torch.Tensor | list[list[int]]) -> torch.Tensor:
        self.seqs = torch.as_tensor(seqs, dtype=torch.long).reshape(len(seqs), -1)
        self.start = window_start(self.prompt_len, self.length, self.T, self.keep, len(self.prefix))
        return self._full()

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor | list[int], parents: torch.Tensor | list[int] | None = None) -> torch.Tensor:
        tokens = torch.as_tensor(tokens, dtype=torch.long).reshape(-1, 1)
        if parents is not None:
            parents = torch.as_tensor(parents, dtype=torch.long)
            self.seqs = self.seqs.index_select(0, parents)
        self.seqs = torch.cat([self.seqs, tokens], dim=1)
        start = window_start(self.prompt_len, self.length, self.T, self.keep, len(self.prefix))
        if start != self.start or not self.use_cache or self.cache is None:
            self.start = start
            return self._full()  # a restart (or no cache): one pass over the whole window
        if parents is not None:
            self.cache.reorder(parents)
        return self.model.forward_cached(tokens, self.cache)
