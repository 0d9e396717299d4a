"""Prompts and sampled lines: what a policy writes, with what RLHF needs to learn from it.

A prompt is a speech's heading and one line of verse from the corpus (``"HELENA:\\nCall you me fair? that
fair again unsay.\\n"``); the model continues it with the next line, which ends at the newline (kept, as an
end token) or after ``max_new`` tokens. Prompts are split once, at random with a fixed seed, into those that
preference data and training may use and "new" ones kept for measuring a tuned model.

:func:`sample_lines` draws ``k`` lines per prompt with a key/value cache (one position per step) and keeps
each token's log-probability; :func:`sequence_logprobs` gives the same log-probabilities with gradients for
a batch of prompt + line sequences, and the hidden states a value head reads.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.corpus import load_corpus
from engine.decoding.common import special_ids
from engine.errors import UserError
from engine.inference import prompt_ids, require_decoder
from engine.model import GPT
from engine.tokenizers import Tokenizer

MAX_NEW = 64  # tokens of a line; a char model's verse line is 30-50 characters
PROMPT_SEED = 1234
NEW_FRACTION = 0.2  # of the prompts, kept for measuring
SPEAKER_RE = re.compile(r"^[A-Z][A-Za-z' ]{1,30}:$")
VERSE_RE = re.compile(r"^[A-Z][A-Za-z ,;:'!?.\-]{18,70}[A-Za-z,;:!?.]$")


@dataclass
class Line:
    """One sampled continuation of a prompt."""

    prompt: str
    prompt_ids: list[int]
    ids: list[int]  # the line's tokens (ending with the newline when it ended)
    logprobs: list[float]  # the sampling model's log p of each
    text: str  # the line as text

    @property
    def ended(self) -> bool:
        return self.text.endswith("\n")


def verse_prompts(corpus: str = "shakespeare", which: str = "train", seed: int = PROMPT_SEED) -> list[str]:
    """Every "SPEAKER:\\nfirst line of verse\\n" of the corpus whose next line is verse too, shuffled with
    ``seed``; ``which`` "train" (80%) or "new" (20%, never used for preferences or training)."""
    if which not in ("train", "new", "all"):
        raise UserError(f"prompts are train, new or all (got {which!r})")
    lines = load_corpus(corpus).text.split("\n")
    found = []
    for i in range(len(lines) - 2):
        if SPEAKER_RE.match(lines[i]) and VERSE_RE.match(lines[i + 1]) and VERSE_RE.match(lines[i + 2]):
            found.append(f"{lines[i]}\n{lines[i + 1]}\n")
    found = sorted(set(found))
    if len(found) < 10:
        raise UserError(f"the corpus {corpus} has only {len(found)} verse prompts (a speaker's name, then lines "
                        "of verse); RLHF needs at least 10")
    random.Random(seed).shuffle(found)
    cut = int(len(found) * (1 - NEW_FRACTION))
    return found if which == "all" else found[:cut] if which == "train" else found[cut:]


def line_end_ids(tokenizer: Tokenizer) -> set[int]:
    """The tokens that end a line: the newline (when it is one token) and the model's own end tokens."""
    ends = set(tokenizer.eos_ids)
    nl = tokenizer.encode("\n").ids
    if len(nl) == 1:
        ends.add(nl[0])
    return ends


def generation_mask(tokenizer: Tokenizer, V: int) -> torch.Tensor:
    """(V,) 0, and -inf at the tokens never generated: added to logits before the softmax, in sampling and in
    training alike (so the log-probabilities PPO compares are of one distribution)."""
    mask = torch.zeros(V)
    ids = [i for i in special_ids(tokenizer) if i < V]
    if ids:
        mask[ids] = float("-inf")
    return mask


@torch.no_grad()
def sample_lines(model: GPT, tokenizer: Tokenizer, prompts: list[str], k: int = 2, max_new: int = MAX_NEW,
                 temperature: float = 1.0, generator: torch.Generator | None = None) -> list[Line]:
    """``k`` lines for each prompt (prompt-major order), sampled at ``temperature`` with a key/value cache."""
    from engine.kvcache import KVCache

    require_decoder(model)
    if k < 1 or max_new < 1:
        raise UserError("k and max_new must be 1 or more")
    was_training = model.training
    model.eval()
    ends = torch.tensor(sorted(line_end_ids(tokenizer)), dtype=torch.long)
    mask = generation_mask(tokenizer, model.cfg.vocab_size)
    out: list[Line] = []
    for prompt in prompts:
        ids = prompt_ids(tokenizer, prompt, model.cfg.context - max_new)
        cache = KVCache(model.cfg, k, capacity=len(ids) + max_new)
        logits = model.forward_cached(torch.tensor([ids] * k), cache)  # (k, V)
        tokens = torch.zeros((k, max_new), dtype=torch.long)
        logps = torch.zeros((k, max_new))
        lengths = torch.full((k,), max_new)  # a line's tokens: up to and including its end token
        done = torch.zeros(k, dtype=torch.bool)
        for t in range(max_new):  # tensors only in the loop: little Python (and GIL) per token
            logp = F.log_softmax(logits.float() / temperature + mask, dim=-1)  # (k, V)
            nxt = torch.multinomial(logp.exp(), 1, generator=generator)[:, 0]  # (k,)
            tokens[:, t], logps[:, t] = nxt, logp.gather(1, nxt[:, None])[:, 0]
            ended = ~done & torch.isin(nxt, ends)
            lengths[ended] = t + 1
            done |= ended
            if bool(done.all()):
                break
            logits = model.forward_cached(nxt[:, None], cache)
        for j, n in enumerate(lengths.tolist()):
            new = tokens[j, :n].tolist()
            out.append(Line(prompt, ids, new, logps[j, :n].tolist(), tokenizer.decode(new)))
    model.train(was_training)
    return out


def pad_sequences(lines: list[Line], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt + line ids, right-padded (B, T), and a (B, T) mask of the line's positions: 1 where position t
    holds a token of the line (predicted from position t - 1)."""
    T = max(len(x.prompt_ids) + len(x.ids) for x in lines)
    idx = torch.full((len(lines), T), pad_id, dtype=torch.long)
    line_mask = torch.zeros((len(lines), T))
    for i, x in enumerate(lines):
        seq = x.prompt_ids + x.ids
        idx[i, :len(seq)] = torch.tensor(seq)
        line_mask[i, len(x.prompt_ids):len(seq)] = 1.0
    return idx, line_mask


def sequence_logprobs(model: GPT, idx: torch.Tensor, mask: torch.Tensor,
                      vocab_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p of each token given the ones before it, (B, T) (0 at t = 0), and the final hidden states (B, T, d)
    (what a value head reads). With gradients when the caller has them on."""
    h, _, _ = model(idx, head=False)  # (B, T, d)
    logits = model.lm_head(h[:, :-1]).float() + vocab_mask  # (B, T-1, V): position t-1 predicts token t
    logp = F.log_softmax(logits, dim=-1).gather(-1, idx[:, 1:, None])[..., 0]  # (B, T-1)
    logp = torch.cat([torch.zeros_like(logp[:, :1]), logp], dim=1)  # (B, T)
    logp = torch.where(mask > 0, logp, torch.zeros_like(logp))  # padding may be a never-generated token: -inf
    return logp, h
