"""Policy optimisation against human (or scripted) preferences: PPO with a value head and a KL penalty, and
DPO straight from the pairs.

The lecture's vocabulary (seed 000, reinforcement learning): the *policy* is the language model, whose action
at each step is the next token and whose state is the text so far; an episode is one line. The *reward* comes
once, at the end of the line, from the reward model (engine.rlhf.reward); a penalty at every token keeps the
policy near where it started (beta times log pi(a|s) - log pi_start(a|s), whose sum over a line is a sample
of the KL divergence, as in InstructGPT). The *value* V(s_t), an estimate of the future reward
R_t = sum_{tau >= t} r_{tau+1} from state s_t (seed 000), is a linear head on the policy's hidden state.

**PPO** (Schulman et al. 2017), per iteration: sample k lines for each of P prompts; score them; compute the
advantages A_t with GAE (gamma = 1, lambda = 0.95) from the rewards and the values; then a few epochs of
minibatch steps on the clipped objective min(rho A, clip(rho, 1 - eps, 1 + eps) A), rho = pi / pi_old, plus
the value head's squared error.

**DPO** (Rafailov et al. 2023) needs no reward model nor sampling while it trains: on each preference pair it
raises beta (log pi(y_w) / pi_start(y_w) - log pi(y_l) / pi_start(y_l)) through -log sigma(.).

Both are generators of engine.events: Progress per step (reward, KL, line length, and the judge's own score
when a judge is given), a Snapshot of the same prompts' lines from the start model and the current one every
``every`` steps, Saved at each autosave (atomic, engine.checkpoint), Finished(result=RlhfResult).
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.checkpoint import LoadedModel, save_checkpoint
from engine.errors import UserError
from engine.events import Evaluation, Finished, Progress, Saved, Snapshot, Started
from engine.inference import require_decoder
from engine.model import GPT
from engine.rlhf.judges import Judge
from engine.rlhf.prefs import Pair
from engine.rlhf.reward import RewardModel
from engine.rlhf.rollout import (
    MAX_NEW,
    Line,
    generation_mask,
    pad_sequences,
    sample_lines,
    sequence_logprobs,
    verse_prompts,
)
from engine.tasks import CancelToken

METHODS = ("ppo", "dpo")
WATCH = 4  # prompts whose lines the view shows side by side, before and after


@dataclass
class RlhfConfig:
    method: str = "ppo"
    steps: int = 150  # PPO iterations or DPO steps
    minutes: float = 0.0  # a time budget (0: none); whichever comes first
    prompts: int = 16  # per PPO iteration
    k: int = 2  # lines per prompt
    max_new: int = MAX_NEW
    beta: float = 0.05  # the KL penalty's coefficient (PPO)
    lr: float = 1e-4
    epochs: int = 4  # PPO epochs per batch
    minibatch: int = 16
    clip: float = 0.2
    vf_coef: float = 0.5
    lam: float = 0.95
    dpo_beta: float = 0.1
    dpo_batch: int = 16
    temperature: float = 1.0
    seed: int = 0
    corpus: str = "shakespeare"
    every: int = 10  # steps between snapshots (and DPO's measurements)
    save_every: int = 50  # steps between autosaves when ``out`` is set
    out: str = ""

    def check(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"unknown method {self.method!r}; use ppo or dpo")
        for name in ("steps", "prompts", "k", "max_new", "epochs", "minibatch", "dpo_batch", "every", "save_every"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name.replace('_', ' ')} must be 1 or more")
        for name in ("beta", "lr", "clip", "dpo_beta", "temperature", "minutes"):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0 or (v == 0 and name not in ("beta", "minutes")):
                raise UserError(f"{name.replace('_', ' ')} must be a positive number")


@dataclass
class RlhfResult:
    policy: GPT
    tokenizer: Any
    cfg: RlhfConfig
    steps: int = 0
    seconds: float = 0.0
    stopped: bool = False
    history: list[dict[str, float]] = field(default_factory=list)
    path: str | None = None

    def summary(self) -> dict[str, Any]:
        last = self.history[-1] if self.history else {}
        return {"method": self.cfg.method, "steps": self.steps, "seconds": round(self.seconds, 2),
                "stopped": self.stopped, "path": self.path,
                **{k: last[k] for k in ("reward", "kl", "length", "judge") if k in last}}


@dataclass
class Watch:
    """The same prompts' lines from the start model and the current one (sampled with the same seeds)."""

    step: int
    prompts: list[str]
    before: list[str]
    after: list[str]
    reward_before: list[float | None]
    reward_after: list[float | None]


def line_kl(lines: list[Line], policy_logp: torch.Tensor, ref_logp: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Per line, sum_t log pi(a_t|s_t) - log pi_start(a_t|s_t) over its sampled tokens: a sample of
    KL(pi || pi_start) of the line, (N,)."""
    return ((policy_logp - ref_logp) * mask).sum(1).double().numpy()


def advantages(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, lam: float) -> torch.Tensor:
    """GAE with gamma = 1 over the masked positions of each row (B, T): A_t = sum_l lam^l delta_{t+l}, delta_t =
    r_t + V_{t+1} - V_t (V after the last token: 0). With lam = 1, A_t + V_t is the future reward R_t =
    sum_{tau >= t} r_tau of seed 000; with lam = 0, the one-step TD error."""
    adv = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0])
    next_value = torch.zeros(rewards.shape[0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        m = mask[:, t]
        delta = rewards[:, t] + next_value - values[:, t]
        running = torch.where(m > 0, delta + lam * running, running)
        adv[:, t] = running * m
        next_value = torch.where(m > 0, values[:, t], next_value)
    return adv


class RlhfTrainer:
    """Tune a copy of ``start`` (which is left as it was: it is the reference pi_start)."""

    def __init__(self, start: LoadedModel, cfg: RlhfConfig, reward: RewardModel | None = None,
                 pairs: list[Pair] | None = None, judge: Judge | None = None) -> None:
        cfg.check()
        require_decoder(start.model)
        if cfg.method == "ppo" and reward is None:
            raise UserError("PPO needs a reward model (train one from preference pairs first)")
        if cfg.method == "dpo":
            pairs = [p for p in (pairs or []) if not p.tie]
            if len(pairs) < 2:
                raise UserError("DPO needs preference pairs (2 or more that are not ties)")
        if reward is not None and reward.tokenizer.vocab_size != start.tokenizer.vocab_size:
            raise UserError("the reward model was made from a model with another vocabulary; train one from "
                            "this model's samples")
        self.cfg, self.start, self.reward, self.pairs, self.judge = cfg, start, reward, pairs or [], judge
        self.tok = start.tokenizer
        self.ref = start.model.eval()  # read under no_grad only: the model stays as every other view sees it
        self.policy = copy.deepcopy(start.model).train()
        self.policy.requires_grad_(True)
        self.policy.name = start.model.name
        self.value = nn.Linear(self.policy.cfg.d, 1)  # V(s): the policy's value head
        nn.init.zeros_(self.value.weight)
        nn.init.zeros_(self.value.bias)
        params = [{"params": list(self.policy.parameters()), "lr": cfg.lr},
                  {"params": list(self.value.parameters()), "lr": cfg.lr * 10}]
        self.opt = torch.optim.Adam(params, eps=1e-5)
        self.vmask = generation_mask(self.tok, self.policy.cfg.vocab_size)
        self.prompts = verse_prompts(cfg.corpus, "train")
        self.watch_prompts = verse_prompts(cfg.corpus, "new")[:WATCH]
        self.rng = random.Random(cfg.seed)
        self.result = RlhfResult(self.policy, self.tok, cfg)
        self._before: list[Line] | None = None  # the start model's lines for the watched prompts (sampled once)

    # --- measuring -------------------------------------------------------------------------------

    def rewards(self, lines: list[Line]) -> np.ndarray:
        if self.reward is None:
            return np.full(len(lines), np.nan)
        return self.reward.score_ids([self.reward.encode(x.prompt, x.text) for x in lines])

    def judged(self, lines: list[Line]) -> float | None:
        return float(np.mean([self.judge.score(x.prompt, x.text) for x in lines])) if self.judge else None

    def _watch_lines(self, model: GPT) -> list[Line]:
        gen = torch.Generator().manual_seed(self.cfg.seed + 99)
        return sample_lines(model, self.tok, self.watch_prompts, 1, self.cfg.max_new, self.cfg.temperature, gen)

    def watch(self, step: int) -> Watch:
        after = self._watch_lines(self.policy)
        if self._before is None:
            self._before = self._watch_lines(self.ref)

        def clean(v: np.ndarray) -> list[float | None]:
            return [None if not np.isfinite(x) else float(x) for x in v]

        return Watch(step, list(self.watch_prompts), [x.text for x in self._before], [x.text for x in after],
                     clean(self.rewards(self._before)), clean(self.rewards(after)))

    # --- PPO -------------------------------------------------------------------------------------

    def ppo_step(self) -> dict[str, float]:
        cfg = self.cfg
        prompts = self.rng.sample(self.prompts, min(cfg.prompts, len(self.prompts)))
        gen = torch.Generator().manual_seed(self.rng.getrandbits(62))
        lines = sample_lines(self.policy, self.tok, prompts, cfg.k, cfg.max_new, cfg.temperature, gen)
        idx, mask = pad_sequences(lines)  # (N, T), (N, T) 1 at the line's tokens
        with torch.no_grad():
            self.policy.eval()
            old_logp, h = sequence_logprobs(self.policy, idx, mask, self.vmask)  # (N, T), (N, T, d)
            ref_logp, _ = sequence_logprobs(self.ref, idx, mask, self.vmask)
            # V at token t is read from the state that chose it: the hidden state at t - 1
            values = torch.cat([torch.zeros_like(h[:, :1, 0]), self.value(h[:, :-1])[..., 0]], 1) * mask  # (N, T)
        self.policy.train()
        scores = torch.tensor(self.rewards(lines), dtype=torch.float32)  # (N,)
        kl_t = (old_logp - ref_logp) * mask  # (N, T)
        rewards = -cfg.beta * kl_t  # a penalty at every token
        last = torch.tensor([len(x.prompt_ids) + len(x.ids) - 1 for x in lines])
        rewards[torch.arange(len(lines)), last] += scores  # the reward model's score at the line's end
        adv = advantages(rewards, values, mask, cfg.lam)
        returns = adv + values
        flat = adv[mask > 0]
        adv = (adv - flat.mean()) / (flat.std() + 1e-8) * mask  # whitened
        n = len(lines)
        pg_losses, v_losses, clipped = [], [], []
        for _ in range(cfg.epochs):
            order = torch.randperm(n, generator=gen)
            for s in range(0, n, cfg.minibatch):
                b = order[s:s + cfg.minibatch]
                mb_mask = mask[b]
                tokens = mb_mask.sum().clamp_min(1.0)
                new_logp, hb = sequence_logprobs(self.policy, idx[b], mb_mask, self.vmask)
                v = torch.cat([torch.zeros_like(hb[:, :1, 0]), self.value(hb[:, :-1])[..., 0]], 1)
                ratio = torch.exp((new_logp - old_logp[b]) * mb_mask)  # rho = pi / pi_old
                a = adv[b]
                pg = torch.max(-a * ratio, -a * ratio.clamp(1 - cfg.clip, 1 + cfg.clip))  # clipped objective
                pg_loss = (pg * mb_mask).sum() / tokens
                v_clip = values[b] + (v - values[b]).clamp(-cfg.clip, cfg.clip)
                v_loss = 0.5 * (torch.max((v - returns[b]) ** 2, (v_clip - returns[b]) ** 2) * mb_mask).sum() / tokens
                loss = pg_loss + cfg.vf_coef * v_loss
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([*self.policy.parameters(), *self.value.parameters()], 1.0)
                self.opt.step()
                pg_losses.append(float(pg_loss.detach()))
                v_losses.append(float(v_loss.detach()))
                clipped.append(float((((ratio - 1).abs() > cfg.clip).float() * mb_mask).sum() / tokens))
        metrics = {"reward": float(scores.mean()), "kl": float(line_kl(lines, old_logp, ref_logp, mask).mean()),
                   "length": float(np.mean([len(x.text.rstrip("\n")) for x in lines])),
                   "policy_loss": float(np.mean(pg_losses)), "value_loss": float(np.mean(v_losses)),
                   "clipped": float(np.mean(clipped))}
        j = self.judged(lines)
        if j is not None:
            metrics["judge"] = j
        if not all(math.isfinite(v) for v in metrics.values()):
            raise UserError("PPO diverged (a loss became NaN or infinite); try a smaller learning rate")
        return metrics

    # --- DPO -------------------------------------------------------------------------------------

    def _pair_lines(self, pairs: list[Pair]) -> list[Line]:
        """Each pair's chosen and rejected line as Lines (prompt-major: chosen, rejected, chosen, ...)."""
        from engine.inference import prompt_ids

        out = []
        for p in pairs:
            for text in (p.chosen, p.rejected):
                ids = self.tok.encode(text).ids[:max(1, self.policy.cfg.context // 2)] or self.tok.encode("\n").ids
                out.append(Line(p.prompt, prompt_ids(self.tok, p.prompt, self.policy.cfg.context - len(ids)), ids,
                                [], text))
        return out

    def dpo_step(self) -> dict[str, float]:
        cfg = self.cfg
        batch = self.rng.sample(self.pairs, min(cfg.dpo_batch, len(self.pairs)))
        lines = self._pair_lines(batch)
        idx, mask = pad_sequences(lines)
        with torch.no_grad():
            ref_logp, _ = sequence_logprobs(self.ref, idx, mask, self.vmask)
        logp, _ = sequence_logprobs(self.policy, idx, mask, self.vmask)
        ratio = (logp - ref_logp).sum(1)  # log pi(y|x) / pi_start(y|x), (2B,)
        margin = cfg.dpo_beta * (ratio[0::2] - ratio[1::2])  # chosen - rejected
        loss = -F.logsigmoid(margin).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), 1.0)
        self.opt.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise UserError("DPO diverged (the loss became NaN or infinite); try a smaller learning rate")
        margin = margin.detach()
        return {"dpo_loss": value, "margin": float(margin.mean()), "pair_accuracy": float((margin > 0).float().mean())}

    def measure(self, prompts: int | None = None) -> dict[str, float]:
        """Reward, KL and length of fresh samples of the current policy (DPO's curves)."""
        cfg = self.cfg
        chosen = self.rng.sample(self.prompts, min(prompts or cfg.prompts, len(self.prompts)))
        gen = torch.Generator().manual_seed(self.rng.getrandbits(62))
        lines = sample_lines(self.policy, self.tok, chosen, cfg.k, cfg.max_new, cfg.temperature, gen)
        idx, mask = pad_sequences(lines)
        with torch.no_grad():
            logp, _ = sequence_logprobs(self.policy, idx, mask, self.vmask)
            ref_logp, _ = sequence_logprobs(self.ref, idx, mask, self.vmask)
        self.policy.train()
        out = {"kl": float(line_kl(lines, logp, ref_logp, mask).mean()),
               "length": float(np.mean([len(x.text.rstrip("\n")) for x in lines]))}
        r = self.rewards(lines)
        if np.isfinite(r).all():
            out["reward"] = float(r.mean())
        j = self.judged(lines)
        if j is not None:
            out["judge"] = j
        return out

    # --- the run ---------------------------------------------------------------------------------

    def save(self, step: int) -> Path:
        cfg = self.cfg
        extra = {"step": int(self.start.config.get("step", 0)) + step, "corpus": self.start.config.get("corpus"),
                 "rlhf": {**asdict(cfg), "start": str(self.start.path), "rlhf_steps": step,
                          "judge": self.judge.name if self.judge else None,
                          "reward": self.reward.info if self.reward is not None else None}}
        if isinstance(self.start.config.get("train"), dict):
            extra["train"] = self.start.config["train"]
        for key in ("architecture", "chat_template"):  # a tuned SmolLM2 is still a Llama with its chat template
            if self.start.config.get(key) not in (None, "txe-gpt"):
                extra[key] = self.start.config[key]
        return save_checkpoint(cfg.out, self.policy, self.tok, extra={k: v for k, v in extra.items() if v is not None})

    def run(self, token: CancelToken | None = None) -> Iterator[Any]:
        """The events of the module docstring. The time budget (``cfg.minutes``) counts all the work: the steps,
        the snapshots' samples and the autosaves (not the time spent paused)."""
        cfg, result = self.cfg, self.result
        budget = cfg.minutes * 60 if cfg.minutes else math.inf
        yield Started({"method": cfg.method, "steps": cfg.steps})
        t0 = time.perf_counter()
        first = self.watch(0)
        result.seconds += time.perf_counter() - t0
        yield Snapshot(0, first)
        step = 0
        while step < cfg.steps and result.seconds < budget:
            if token is not None:
                if token.paused:
                    token.wait_if_paused()
                if token.cancelled:
                    result.stopped = True
                    break
            t0 = time.perf_counter()
            metrics = self.ppo_step() if cfg.method == "ppo" else self.dpo_step()
            step += 1
            if cfg.method == "dpo" and (step % cfg.every == 0 or step == 1):
                metrics.update(self.measure())
            watch = self.watch(step) if step % cfg.every == 0 else None
            saved = str(self.save(step)) if cfg.out and step % cfg.save_every == 0 else None
            result.seconds += time.perf_counter() - t0
            result.steps = step
            result.history.append({"step": step, **metrics})
            eta = min(result.seconds / step * (cfg.steps - step), budget - result.seconds)
            yield Progress(step, cfg.steps, result.seconds, eta, metrics,
                           fraction=max(step / cfg.steps, result.seconds / budget if budget < math.inf else 0))
            if watch is not None:
                yield Snapshot(step, watch)
            if saved is not None:
                yield Saved(step, saved)
        if step % cfg.every != 0:
            yield Snapshot(step, self.watch(step))
        if cfg.out:
            result.path = str(self.save(step))
            yield Saved(step, result.path)
        self.policy.eval()
        yield Evaluation(step, result.summary())
        yield Finished(result.summary(), result.stopped, result)
