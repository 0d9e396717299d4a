"""Measuring a tuned policy against the model it started from, on prompts neither saw in training.

For each new prompt one line is sampled from each model; the reward model scores both (``reward_before``,
``reward_after``: means), the scripted judge (when given) says which it prefers (``judge_win_rate``: wins
plus half the ties, over the prompts), and the KL divergence of the tuned policy from the start, per line, is
estimated from the tuned model's own samples (``kl``: the mean of sum_t log pi - log pi_start).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.errors import UserError
from engine.model import GPT
from engine.rlhf.judges import Judge
from engine.rlhf.reward import RewardModel
from engine.rlhf.rollout import MAX_NEW, generation_mask, pad_sequences, sample_lines, sequence_logprobs, verse_prompts
from engine.tasks import CancelToken

BATCH = 16


@torch.no_grad()
def compare_policies(start: GPT, tuned: GPT, tokenizer: Any, reward: RewardModel | None = None,
                     judge: Judge | None = None, prompts: list[str] | None = None, n: int = 200, seed: int = 7,
                     max_new: int = MAX_NEW, corpus: str = "shakespeare",
                     token: CancelToken | None = None) -> dict[str, Any]:
    """The measurements of the module docstring on ``n`` new prompts (``prompts`` or the corpus's held-out
    verse prompts)."""
    if start.cfg.vocab_size != tuned.cfg.vocab_size:
        raise UserError("the two models have different vocabularies; compare a tuned model with its start")
    prompts = (prompts or verse_prompts(corpus, "new"))[:n]
    if not prompts:
        raise UserError("no prompts to compare the models on")
    vmask = generation_mask(tokenizer, tuned.cfg.vocab_size)
    before_r, after_r, kls, verdicts, len_b, len_a = [], [], [], [], [], []
    examples = []
    for s in range(0, len(prompts), BATCH):
        if token is not None:
            token.check()
        chunk = prompts[s:s + BATCH]
        before = sample_lines(start, tokenizer, chunk, 1, max_new, generator=torch.Generator().manual_seed(seed + s))
        after = sample_lines(tuned, tokenizer, chunk, 1, max_new, generator=torch.Generator().manual_seed(seed + s))
        idx, mask = pad_sequences(after)
        lp, _ = sequence_logprobs(tuned, idx, mask, vmask)
        rp, _ = sequence_logprobs(start, idx, mask, vmask)
        kls.extend(((lp - rp) * mask).sum(1).double().tolist())
        if reward is not None:
            before_r.extend(reward.score_ids([reward.encode(x.prompt, x.text) for x in before]).tolist())
            after_r.extend(reward.score_ids([reward.encode(x.prompt, x.text) for x in after]).tolist())
        if judge is not None:
            verdicts.extend(judge.prefer(b.prompt, a.text, b.text) for a, b in zip(after, before, strict=True))
        len_b.extend(len(x.text.rstrip("\n")) for x in before)
        len_a.extend(len(x.text.rstrip("\n")) for x in after)
        if len(examples) < 8:
            examples.extend({"prompt": b.prompt, "before": b.text, "after": a.text}
                            for a, b in zip(after, before, strict=True))
    out: dict[str, Any] = {"prompts": len(prompts), "kl": float(np.mean(kls)),
                           "length_before": float(np.mean(len_b)), "length_after": float(np.mean(len_a)),
                           "examples": examples[:8]}
    if reward is not None:
        out["reward_before"], out["reward_after"] = float(np.mean(before_r)), float(np.mean(after_r))
    if judge is not None:
        v = np.asarray(verdicts)
        wins, losses, ties = int((v > 0).sum()), int((v < 0).sum()), int((v == 0).sum())
        out.update({"judge": judge.name, "wins": wins, "losses": losses, "ties": ties,
                    "judge_win_rate": (wins + 0.5 * ties) / len(v)})
    return out
