"""Greedy search and beam search (seed 001: "Greedy sampling", "Beam search", Figure 10.10).

Greedy search: y_i = argmax P(y_i | x, y_<i), one step at a time; it ignores how a choice limits the
high-probability choices later. Beam search keeps the k best partial hypotheses by cumulative
log-probability: start with the k best first tokens, extend each, keep the k best of all extensions,
iterate. Finished hypotheses are ranked by the normalised score ``sum log p / length^alpha`` (length =
generated tokens, end token included; alpha = 0 is the plain sum, alpha > 0 favours longer ones).

The loop follows Hugging Face's beam search: each step ranks all (beam, token) extensions by cumulative
log-probability and walks the best 2k: an extension that ends (end-of-sequence) goes to the pool of
finished hypotheses (only if it ranks within the first k; the pool keeps the best k by score), the
others fill the next beam up to k, so the beam stays full even when hypotheses end. Stopping
(``early_stopping``), once the pool holds k hypotheses:

- ``"true"``: stop at once;
- ``"heuristic"`` (HF ``False``, the default): stop when the best live hypothesis, scored at its current
  length, cannot beat the worst in the pool;
- ``"never"`` (HF ``"never"``, the canonical rule): stop only when no live hypothesis can beat the worst
  in the pool at any length up to ``max_new`` (log-probabilities only fall as hypotheses grow).

At ``max_new`` tokens the live hypotheses join the pool (``end="length"``). With k = 1 and no end token
beam search is greedy search; with k >= V^n it is exhaustive search over all length-n continuations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from engine.decoding.cache import Decoder
from engine.decoding.common import (
    EosRule,
    Generation,
    Prompt,
    check_max_new,
    masked_logprobs,
    prompt_text,
    prompt_tokens,
    special_mask,
)
from engine.decoding.tree import FINISHED, KEPT, PRUNED, BeamNode, BeamTree
from engine.errors import UserError
from engine.model import GPT
from engine.tasks import CancelToken
from engine.tokenizers import Tokenizer

EARLY_STOPPING = ("heuristic", "true", "never")


def decode_one_path(model: GPT, tokenizer: Tokenizer, prompt: Prompt, max_new: int,
                    choose: Callable[[torch.Tensor, torch.Tensor], int], eos: Iterable[int | str] | None = None,
                    window_keep: int | None = None, use_cache: bool = True) -> Generation:
    """One continuation, a token per step: ``choose(logits, logp)`` picks it from the raw logits (V,) and the
    model's log-probabilities (V,) with the special tokens masked; the cache feeds it to the next step."""
    max_new = check_max_new(max_new)
    rule = EosRule(tokenizer, eos)
    ids = prompt_tokens(tokenizer, prompt)
    specials = special_mask(tokenizer)
    dec = Decoder(model, tokenizer.prefix_ids, len(ids), window_keep, use_cache)
    new: list[int] = []
    logps: list[float] = []
    end = "length"
    if max_new:
        logits = dec.prefill([ids])  # (1, V)
        for i in range(max_new):
            logp = masked_logprobs(logits, specials)[0]
            tok = choose(logits[0], logp)
            finished = rule.ends(new, tok)
            new.append(tok)
            logps.append(float(logp[tok]))
            if finished:
                end = "eos"
                break
            if i + 1 < max_new:
                logits = dec.step([tok])
    text = prompt_text(tokenizer, prompt)
    return Generation(text, new, [tokenizer.token_text(i) for i in new], logps, text + tokenizer.decode(new), end)


@torch.inference_mode()
def greedy(model: GPT, tokenizer: Tokenizer, prompt: Prompt, max_new: int, eos: Iterable[int | str] | None = None,
           window_keep: int | None = None, use_cache: bool = True) -> Generation:
    """Greedy search: the most probable token at every step (the path the view overlays on the beam tree)."""
    return decode_one_path(model, tokenizer, prompt, max_new, lambda _logits, logp: int(torch.argmax(logp)), eos,
                           window_keep, use_cache)


@dataclass
class Hypothesis:
    """A finished hypothesis of the n-best list."""

    node: int  # its last node in the tree
    ids: list[int]
    text: str  # prompt + generated
    generated: str
    cum_logprob: float
    score: float
    end: str  # "eos" | "length"

    def to_dict(self) -> dict:
        return {"text": self.text, "generated": self.generated, "score": self.score,
                "logprob": self.cum_logprob, "node": self.node, "end": self.end}


@dataclass
class BeamResult:
    prompt: str
    nbest: list[Hypothesis]  # best first
    tree: BeamTree
    steps: int
    stopped: str  # why the search ended: "length" | "early-stopping" | "all-ended"

    @property
    def best(self) -> Hypothesis:
        return self.nbest[0]

    def to_dict(self) -> dict:
        best = self.best
        return {"text": best.text, "generated": best.generated, "score": best.score, "logprob": best.cum_logprob,
                "nbest": [h.to_dict() for h in self.nbest], "tree": self.tree.to_list(), "steps": self.steps,
                "stopped": self.stopped}


class BeamSearch:
    """Beam search one step at a time, recording its tree (see the module docstring).

    ``step()`` expands every live hypothesis once and returns the new node ids; ``run()`` steps until
    done; ``force(node_id)`` continues from any node of the tree (a pruned candidate, say) as the only
    live hypothesis. ``tree``, ``beam`` (live node ids) and ``pool`` (finished node ids) are readable
    between steps.
    """

    def __init__(self, model: GPT, tokenizer: Tokenizer, prompt: Prompt, k: int = 4, alpha: float = 1.0,
                 max_new: int = 50, eos: Iterable[int | str] | None = None, early_stopping: str = "heuristic",
                 n_best: int | None = None, rejected: int = 3, window_keep: int | None = None,
                 use_cache: bool = True) -> None:
        if int(k) < 1:
            raise UserError(f"the beam width k must be at least 1 (got {k})")
        if early_stopping not in EARLY_STOPPING:
            raise UserError(f"early stopping must be one of {', '.join(EARLY_STOPPING)} (got {early_stopping!r})")
        if n_best is not None and not 1 <= int(n_best) <= int(k):
            raise UserError(f"the n-best list holds 1 to k = {k} hypotheses (got {n_best})")
        if int(rejected) < 0:
            raise UserError(f"rejected candidates per expansion must be 0 or more (got {rejected})")
        self.model, self.tokenizer = model, tokenizer
        self.k, self.alpha, self.max_new = int(k), float(alpha), check_max_new(max_new)
        self.early_stopping, self.rejected = early_stopping, int(rejected)
        self.n_best = int(n_best) if n_best is not None else self.k
        self.eos = EosRule(tokenizer, eos)
        self.prompt = prompt_text(tokenizer, prompt)
        self.prompt_ids = prompt_tokens(tokenizer, prompt)
        self.specials = special_mask(tokenizer)
        self.decoder = self.make_decoder(window_keep, use_cache)
        self.tree = BeamTree()
        self.tree.add(BeamNode(0, None, "", None, 0, 0.0, 0.0, 0.0, KEPT, 0))
        self.round = 0
        self.stopped = ""
        self._restart(0, [])

    def make_decoder(self, window_keep: int | None, use_cache: bool) -> Decoder:
        """What gives the next-token logits: ``prefill(seqs) -> (B, V)`` and ``step(tokens, parents) -> (B, V)``.
        A subclass may search another kind of model with the same loop and tree (engine.seq2seq: a
        translator's decoder, given the source sentence)."""
        return Decoder(self.model, self.tokenizer.prefix_ids, len(self.prompt_ids), window_keep, use_cache)

    # --- state ------------------------------------------------------------------------------

    def _restart(self, node_id: int, pool: list[int]) -> None:
        self.beam: list[int] = [node_id]
        self.pool: list[int] = pool
        self.steps = self.tree[node_id].step
        self.done = self.steps >= self.max_new
        self.stopped = "length" if self.done else ""
        self._logits = self.decoder.prefill([self.prompt_ids + self.tree.token_ids(node_id)])

    def _score(self, cum: float, length: int) -> float:
        return cum / max(length, 1) ** self.alpha

    def _worst_in_pool(self) -> float:
        return min(self.tree[i].score for i in self.pool)

    def _add_to_pool(self, node_id: int) -> bool:
        """Admit a finished hypothesis if the pool has room or it beats the worst (which then leaves)."""
        if len(self.pool) < self.k:
            self.pool.append(node_id)
            return True
        worst = min(self.pool, key=lambda i: self.tree[i].score)
        if self.tree[node_id].score > self.tree[worst].score:
            self.pool.remove(worst)
            self.pool.append(node_id)
            return True
        return False

    # --- the loop ---------------------------------------------------------------------------

    def step(self) -> list[int]:
        """Expand every live hypothesis by one token (seed 001: extend each, keep the k best)."""
        if self.done:
            return []
        tree, k = self.tree, self.k
        logp = masked_logprobs(self._logits, self.specials)  # (B, V)
        B, V = logp.shape
        cum = torch.tensor([tree[i].cum_logprob for i in self.beam], dtype=torch.float64)[:, None] + logp
        n_cand = min(2 * k, int(torch.isfinite(cum).sum()))
        top_cum, top_idx = torch.topk(cum.view(-1), n_cand)
        order = torch.argsort(logp, dim=1, descending=True)  # each parent's tokens, best first
        ranks = torch.empty_like(order).scatter_(1, order, torch.arange(V).expand(B, V))
        length = self.steps + 1
        gen_ids = [tree.token_ids(i) for i in self.beam]
        new: list[int] = []
        recorded: set[tuple[int, int]] = set()
        next_beam: list[int] = []
        next_parents: list[int] = []
        next_tokens: list[int] = []

        def add(b: int, tok: int, c: float, status: str, end: str | None = None) -> BeamNode:
            node = tree.add(BeamNode(0, self.beam[b], self.tokenizer.token_text(tok), tok, length,
                                     float(logp[b, tok]), c, self._score(c, length), status, int(ranks[b, tok]),
                                     end, self.round))
            new.append(node.id)
            recorded.add((b, tok))
            return node

        for rank, (c, flat) in enumerate(zip(top_cum.tolist(), top_idx.tolist(), strict=True)):
            b, tok = divmod(flat, V)
            if self.eos.ends(gen_ids[b], tok):
                if rank >= k:  # as in HF: an ending outside the best k is not a finished hypothesis
                    add(b, tok, c, PRUNED, "eos")
                    continue
                node = add(b, tok, c, FINISHED, "eos")
                if not self._add_to_pool(node.id):
                    node.status = PRUNED
            elif len(next_beam) < k:
                node = add(b, tok, c, KEPT)
                next_beam.append(node.id)
                next_parents.append(b)
                next_tokens.append(tok)
            else:
                add(b, tok, c, PRUNED)
        if self.rejected:  # each expansion's best rejected tokens, for the view to show and force
            for b in range(B):
                shown = sum(1 for i in new if tree[i].parent == self.beam[b] and tree[i].status == PRUNED)
                for tok in order[b, : self.rejected + k].tolist():
                    if shown >= self.rejected or not torch.isfinite(logp[b, tok]):
                        break
                    if (b, tok) not in recorded:
                        c = float(cum[b, tok])
                        add(b, tok, c, PRUNED, "eos" if self.eos.ends(gen_ids[b], tok) else None)
                        shown += 1
        self.steps = length
        self.beam = next_beam
        self._check_done()
        if not self.done:
            self._logits = self.decoder.step(next_tokens, next_parents)
        return new

    def _check_done(self) -> None:
        if not self.beam:
            self.done, self.stopped = True, "all-ended"
            return
        if len(self.pool) >= self.k:
            best_cum = max(self.tree[i].cum_logprob for i in self.beam)
            if self.early_stopping == "true":
                stop = True
            elif self.early_stopping == "heuristic":
                stop = self._worst_in_pool() >= self._score(best_cum, self.steps)
            else:  # "never": the best score any live hypothesis could still reach
                reach = self.max_new if self.alpha > 0 else self.steps
                stop = self._worst_in_pool() >= self._score(best_cum, reach)
            if stop:
                self.done, self.stopped = True, "early-stopping"
                return
        if self.steps >= self.max_new:  # live hypotheses end at the length limit and join the pool
            for i in self.beam:
                if self._add_to_pool(i):
                    self.tree[i].status, self.tree[i].end = FINISHED, "length"
            self.done, self.stopped = True, "length"

    def run(self, token: CancelToken | None = None) -> BeamResult:
        while not self.done:
            if token is not None:
                token.check()  # between steps: a cancelled search keeps the tree it has
            self.step()
        return self.result()

    def force(self, node_id: int) -> None:
        """Continue from ``node_id`` as the only live hypothesis (the view's "click a candidate")."""
        if not 0 <= node_id < len(self.tree):
            raise UserError(f"there is no node {node_id} in the search tree")
        node = self.tree[node_id]
        if node.end == "eos":
            raise UserError(f"node {node_id} ends its hypothesis; choose a node that can be extended")
        if node.step >= self.max_new:
            raise UserError(f"node {node_id} is already {node.step} tokens long, the limit of this search")
        self.round += 1
        node.forced, node.status = True, KEPT
        if node.end == "length":
            node.end = None
        pool = [i for i in self.pool if i != node_id and self.tree.is_ancestor(node_id, i)]
        self._restart(node_id, pool)

    # --- results ----------------------------------------------------------------------------

    def hypothesis(self, node_id: int) -> Hypothesis:
        node = self.tree[node_id]
        ids = self.tree.token_ids(node_id)
        generated = self.tokenizer.decode(ids)
        return Hypothesis(node_id, ids, self.prompt + generated, generated, node.cum_logprob, node.score,
                          node.end or "length")

    def result(self) -> BeamResult:
        ended = self.pool or self.beam  # before the end (stepping), the live beam stands in
        best = sorted(ended, key=lambda i: (-self.tree[i].score, i))[: self.n_best]
        return BeamResult(self.prompt, [self.hypothesis(i) for i in best], self.tree, self.steps,
                          self.stopped or "running")


@dataclass
class TreeState:
    """A copy of a search as the Decoding view draws it: its tree, live beam, finished pool and n-best, with
    the greedy path laid over it (where greedy's tokens run through the tree, and where it leaves the beam)."""

    nodes: list[dict]
    beam: list[int]
    pool: list[int]
    done: bool
    nbest: list[dict]
    greedy_nodes: list[int]
    greedy_text: str
    alpha: float
    prompt: str = ""
    k: int = 1
    greedy_tokens: list[str] = field(default_factory=list)
    greedy_logprob: float = 0.0
    greedy_departure: dict | None = None  # see BeamTree.departure


def tree_state(search: BeamSearch, eos: Iterable[int | str] | None = None) -> TreeState:
    """A :class:`TreeState` of ``search`` as it stands (engine thread; the copy is safe to hand over)."""
    path = greedy(search.model, search.tokenizer, search.prompt, search.max_new, eos)
    nbest = [h.to_dict() for h in search.result().nbest] if search.done else []
    gone = search.tree.departure(path.ids, () if search.done else search.beam)
    return TreeState([n.to_dict() for n in search.tree.nodes], list(search.beam), list(search.pool), search.done,
                     nbest, search.tree.match(path.ids), path.generated, search.alpha, search.prompt, search.k,
                     list(path.tokens), path.cum_logprob, gone)


def beam_search(model: GPT, tokenizer: Tokenizer, prompt: Prompt, k: int = 4, alpha: float = 1.0,
                max_new: int = 50, **kw) -> BeamResult:
    """Run :class:`BeamSearch` to the end."""
    return BeamSearch(model, tokenizer, prompt, k, alpha, max_new, **kw).run()
