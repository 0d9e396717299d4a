"""Shared pieces of decoding: prompts, end-of-sequence rules, log-probabilities, results.

Log-probabilities are the model's own: log-softmax over the whole vocabulary (as ``txe score``), so a
hypothesis' cumulative log-probability is log P(y_1..y_n | x) of seed 001. ``<|bos|>`` and ``<|unk|>``
are never generated: their log-probabilities are set to -inf after the softmax (not renormalised, so
the numbers stay comparable with ``txe score``). Sampling renormalises what it draws from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from engine.errors import UserError
from engine.tokenizers import Tokenizer

Prompt = str | Sequence[int]  # text, or token ids without <|bos|>


def prompt_tokens(tokenizer: Tokenizer, prompt: Prompt) -> list[int]:
    """The prompt as token ids without <|bos|> (the decoder puts it in front)."""
    if isinstance(prompt, str):
        return tokenizer.encode(prompt).ids if prompt else []
    ids = [int(i) for i in prompt]
    bad = [i for i in ids if not 0 <= i < tokenizer.vocab_size]
    if bad:
        raise UserError(f"token id {bad[0]} is outside the vocabulary (0..{tokenizer.vocab_size - 1})")
    return ids


def prompt_text(tokenizer: Tokenizer, prompt: Prompt) -> str:
    return prompt if isinstance(prompt, str) else tokenizer.decode(prompt)


def special_ids(tokenizer: Tokenizer) -> list[int]:
    """The tokens never generated: our <|bos|> and <|unk|>; ids a model has beyond its tokenizer's."""
    return list(tokenizer.never_generate)


def special_mask(tokenizer: Tokenizer) -> torch.Tensor:
    """(V,) float64: 0, and -inf at the tokens never generated (our <|bos|> and <|unk|>), added to
    log-probabilities: one cheap op per step."""
    return as_mask(special_ids(tokenizer), tokenizer.vocab_size)


def as_mask(specials: list[int] | torch.Tensor, V: int) -> torch.Tensor:
    if isinstance(specials, torch.Tensor):
        return specials
    mask = torch.zeros(V, dtype=torch.float64)
    mask[specials] = float("-inf")
    return mask


def masked_logprobs(logits: torch.Tensor, specials: list[int] | torch.Tensor) -> torch.Tensor:
    """(B, V) logits -> (B, V) float64 log p, -inf at the special tokens (never generated)."""
    return torch.log_softmax(logits.double(), dim=-1) + as_mask(specials, logits.shape[-1])


def check_max_new(max_new: int) -> int:
    if int(max_new) < 0:
        raise UserError(f"the number of new tokens must be 0 or more (got {max_new})")
    return int(max_new)


class EosRule:
    """When a hypothesis ends: single end tokens, or stop strings of several tokens.

    Our models have no end-of-sequence token, so ``eos`` is a set of token ids or texts. A text that is
    one token (e.g. "\\n" for a char model) is an end token; a longer one (e.g. "\\n\\n", two tokens for a
    char model) is a stop sequence, matched on the generated token ids (not across the prompt). The end
    token(s) stay in the hypothesis and count in its length, as an <eos> token would. A model's own end
    tokens (``tokenizer.eos_ids``: SmolLM2's <|im_end|>, the end of its turn) always end a hypothesis.
    """

    def __init__(self, tokenizer: Tokenizer, eos: Iterable[int | str] | None = None) -> None:
        self.ids: set[int] = set(tokenizer.eos_ids)
        self.sequences: list[tuple[int, ...]] = []
        for item in eos or ():
            if isinstance(item, str):
                if not item:
                    raise UserError("an end-of-sequence text must not be empty")
                ids = tokenizer.encode(item).ids
                if tokenizer.unk_id is not None and tokenizer.unk_id in ids:
                    raise UserError(f"the end-of-sequence text {item!r} is not in this model's vocabulary")
            else:
                ids = [int(item)]
                if not 0 <= ids[0] < tokenizer.vocab_size:
                    raise UserError(f"end-of-sequence id {ids[0]} is outside the vocabulary")
            if any(i in special_ids(tokenizer) for i in ids):
                raise UserError("<|bos|> and <|unk|> cannot end a sequence: they are never generated"
                                if tokenizer.ours else "that token is never generated: it cannot end a sequence")
            if len(ids) == 1:
                self.ids.add(ids[0])
            else:
                self.sequences.append(tuple(ids))

    def __bool__(self) -> bool:
        return bool(self.ids or self.sequences)

    def ends(self, generated: Sequence[int], token: int) -> bool:
        """Does appending ``token`` to the generated ids end the hypothesis?"""
        if token in self.ids:
            return True
        for seq in self.sequences:
            if token == seq[-1] and len(generated) >= len(seq) - 1 and \
                    tuple(generated[len(generated) - len(seq) + 1:]) == seq[:-1]:
                return True
        return False

    def finishing(self, generated: Sequence[int]) -> set[int]:
        """All tokens that would end this hypothesis now."""
        out = set(self.ids)
        for seq in self.sequences:
            if len(generated) >= len(seq) - 1 and tuple(generated[len(generated) - len(seq) + 1:]) == seq[:-1]:
                out.add(seq[-1])
        return out


@dataclass
class Generation:
    """One decoded continuation (greedy or sampled)."""

    prompt: str
    ids: list[int]  # generated token ids
    tokens: list[str]  # their texts
    logprobs: list[float]  # the model's log p of each generated token (temperature 1, whole vocabulary)
    text: str  # prompt + generated text
    end: str  # "eos" or "length"
    extra: dict = field(default_factory=dict)

    @property
    def generated(self) -> str:
        return self.text[len(self.prompt):]

    @property
    def cum_logprob(self) -> float:
        return float(sum(self.logprobs))

    def to_dict(self) -> dict:
        return {"text": self.text, "generated": self.generated, "score": self.cum_logprob,
                "logprob": self.cum_logprob, "ids": self.ids, "tokens": self.tokens, "logprobs": self.logprobs,
                "end": self.end, **self.extra}
