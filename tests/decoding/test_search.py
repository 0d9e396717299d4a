"""Greedy and beam search (seed 001): k = 1 is greedy, a wide beam is exhaustive search, the tree is exact."""

import itertools
import json
import math

import pytest
import torch

from engine.decoding import BeamSearch, BeamTree, beam_search, greedy
from engine.decoding.tree import FINISHED, KEPT, PRUNED, BeamNode
from engine.errors import UserError
from engine.inference import score_text


@torch.no_grad()
def test_greedy_takes_the_argmax_each_step(tiny):
    model, tok = tiny.model, tiny.tokenizer
    g = greedy(model, tok, "To be", 12)
    assert len(g.ids) == 12 and g.text == "To be" + g.generated and g.end == "length"
    ids = [tok.bos_id] + tok.encode("To be").ids
    for i, x in enumerate(g.ids):  # recompute every step without the cache
        logits = model(torch.tensor([ids]))[0][0, -1]
        logits[[tok.bos_id, tok.unk_id]] = float("-inf")
        assert int(torch.argmax(logits)) == x
        assert g.logprobs[i] == pytest.approx(float(torch.log_softmax(model(torch.tensor([ids]))[0][0, -1], -1)[x]),
                                              abs=1e-5)
        ids.append(x)
    assert greedy(model, tok, "To be", 12, use_cache=False).ids == g.ids


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_k1_is_greedy(default_model, alpha):
    model, tok = default_model.model, default_model.tokenizer
    g = greedy(model, tok, "ROMEO:", 90)  # beyond the context of 64: window restarts included
    r = beam_search(model, tok, "ROMEO:", k=1, alpha=alpha, max_new=90)
    assert r.best.ids == g.ids and r.best.text == g.text
    assert r.best.cum_logprob == pytest.approx(g.cum_logprob, abs=1e-6)


def test_beam_k1_is_greedy_with_an_end_token(tiny):
    g = greedy(tiny.model, tiny.tokenizer, "HAMLET:", 60, eos=["\n"])
    r = beam_search(tiny.model, tiny.tokenizer, "HAMLET:", k=1, alpha=0.0, max_new=60, eos=["\n"])
    assert r.best.ids == g.ids and r.best.end == g.end


@torch.no_grad()
def _exhaustive(model, tok, n, alpha, eos_id=None):
    """Score every continuation of at most n tokens (ended by eos_id, or of length n) without the cache."""
    ok = [i for i in range(tok.vocab_size) if i not in (tok.bos_id, tok.unk_id)]
    out = {}
    for seq in itertools.product(ok, repeat=n):
        if eos_id is not None and eos_id in seq:
            seq = seq[: seq.index(eos_id) + 1]
        if seq in out:
            continue
        logits = model(torch.tensor([[tok.bos_id, *seq]]))[0][0, :-1]
        logp = torch.log_softmax(logits.double(), -1)
        cum = float(logp[torch.arange(len(seq)), torch.tensor(seq)].sum())
        out[seq] = cum / len(seq) ** alpha
    return sorted(out.items(), key=lambda kv: -kv[1])


@pytest.mark.parametrize("n,k", [(3, 5 ** 3), (4, 3 ** 4)])
def test_wide_beam_is_exhaustive_search(five, n, k):
    """k >= V^n: beam search keeps every hypothesis, so its best is the argmax over all continuations."""
    model, tok = five
    want = _exhaustive(model, tok, n, alpha=0.0)
    r = beam_search(model, tok, "", k=k, alpha=0.0, max_new=n)
    assert tuple(r.best.ids) == want[0][0]
    assert r.best.score == pytest.approx(want[0][1], abs=1e-5)
    assert [tuple(h.ids) for h in r.nbest] == [s for s, _ in want]  # the whole n-best list, in order
    assert want[0][1] - want[1][1] > 1e-3  # the test model has a clear winner (no tie decides it)


def test_wide_beam_is_exhaustive_with_end_token_and_length_penalty(five):
    model, tok = five
    eos = tok.encode("c").ids[0]
    for alpha in (0.0, 1.0, 2.0):
        want = _exhaustive(model, tok, 4, alpha, eos_id=eos)
        r = beam_search(model, tok, "", k=3 ** 4, alpha=alpha, max_new=4, eos=["c"], early_stopping="never")
        assert tuple(r.best.ids) == want[0][0], alpha
        assert r.best.score == pytest.approx(want[0][1], abs=1e-5)
        assert len(r.nbest) == len(want)


def test_narrow_beam_can_miss_the_best(five):
    """Seed 001's point: greedy (k = 1) is not the argmax of the whole sequence in general."""
    model, tok = five
    best = _exhaustive(model, tok, 4, 0.0)[0][1]
    assert greedy(model, tok, "", 4).cum_logprob <= best + 1e-9


def test_tree_is_recorded_exactly(default_model):
    model, tok = default_model.model, default_model.tokenizer
    k, alpha = 4, 0.7
    search = BeamSearch(model, tok, "ROMEO:", k=k, alpha=alpha, max_new=30, eos=["\n\n"], rejected=2)
    r = search.run()
    tree = r.tree
    raw = json.loads(json.dumps(tree.to_list(), allow_nan=False))
    assert raw[0]["parent"] is None and raw[0]["step"] == 0
    for node in raw[1:]:
        assert set(node) >= {"id", "parent", "token", "logprob", "cum_logprob", "score", "status"}
        parent = raw[node["parent"]]
        assert node["step"] == parent["step"] + 1
        assert parent["status"] in (KEPT, FINISHED) and (parent["status"] == KEPT or parent["id"] == 0)
        assert node["cum_logprob"] == pytest.approx(parent["cum_logprob"] + node["logprob"], abs=1e-9)
        assert node["score"] == pytest.approx(node["cum_logprob"] / node["step"] ** alpha, abs=1e-9)
        assert node["status"] in (KEPT, PRUNED, FINISHED) and node["logprob"] <= 0
    for step in range(1, r.steps + 1):
        at = [raw[i] for i in tree.at_step(step)]
        assert sum(n["status"] == KEPT for n in at) <= k
        # every expansion shows its best rejected tokens
        for parent in {n["parent"] for n in at}:
            assert sum(n["status"] == PRUNED for n in at if n["parent"] == parent) >= 2
    kept_last = [n for n in raw if n["step"] == r.steps and n["status"] in (KEPT, FINISHED)]
    assert kept_last
    for h in r.nbest:
        assert raw[h.node]["status"] == FINISHED and h.score == raw[h.node]["score"]
        assert tree.token_ids(h.node) == h.ids
    assert [h.score for h in r.nbest] == sorted((h.score for h in r.nbest), reverse=True)
    assert BeamTree.from_list(raw).to_list() == raw
    # the cumulative log-probability is the model's log P(y | x), as txe score computes it
    best = r.best
    full = score_text(model, tok, "ROMEO:" + best.generated)
    prompt = score_text(model, tok, "ROMEO:")
    if len(tok.encode(best.text).ids) < model.cfg.context:
        assert best.cum_logprob == pytest.approx(full.logprob - prompt.logprob, abs=1e-4)


def test_step_by_step_and_force(tiny):
    model, tok = tiny.model, tiny.tokenizer
    search = BeamSearch(model, tok, "To be", k=3, alpha=1.0, max_new=8)
    first = search.step()
    assert len(search.beam) == 3 and all(search.tree[i].status == KEPT for i in search.beam)
    assert all(search.tree[i].step == 1 for i in first)
    size = len(search.tree)
    search.step()
    assert len(search.tree) > size and search.steps == 2
    pruned = next(i for i in first if search.tree[i].status == PRUNED)
    search.force(pruned)
    assert search.beam == [pruned] and search.tree[pruned].forced and search.round == 1
    r = search.run()
    forced_token = search.tree[pruned].token_id
    assert all(h.ids[0] == forced_token for h in r.nbest)
    assert all(search.tree[h.node].round == 1 for h in r.nbest)
    with pytest.raises(UserError):
        search.force(10 ** 6)


def test_greedy_path_overlay(default_model):
    model, tok = default_model.model, default_model.tokenizer
    r = beam_search(model, tok, "ROMEO:", k=4, max_new=20)
    g = greedy(model, tok, "ROMEO:", 20)
    path = r.tree.match(g.ids)
    assert path[0] == 0 and len(path) >= 2  # greedy's first token is always among the beam's candidates
    assert [r.tree[i].token_id for i in path[1:]] == g.ids[: len(path) - 1]
    gone = r.tree.departure(g.ids)
    if gone is None:  # the beam kept greedy's whole path
        assert len(path) == len(g.ids) + 1 and all(r.tree[i].status != PRUNED for i in path)
    elif gone["reason"] == "pruned":
        node = r.tree[gone["node"]]
        assert node.status == PRUNED and node.token_id == g.ids[gone["step"] - 1] and gone["node"] in path
        assert all(r.tree[i].status != PRUNED for i in path[1: path.index(gone["node"])])
    else:
        assert gone["node"] == path[-1] and gone["step"] == len(path) and not r.tree.children[path[-1]]


def test_departure_of_a_path():
    """Greedy leaves the beam where its token was pruned, or after the last node the search expanded."""
    tree = BeamTree()
    tree.add(BeamNode(0, None, "", None, 0, 0.0, 0.0, 0.0, KEPT, 0))
    tree.add(BeamNode(0, 0, "a", 1, 1, -0.1, -0.1, -0.1, KEPT, 0))
    tree.add(BeamNode(0, 1, "b", 2, 2, -0.2, -0.3, -0.15, PRUNED, 0))
    tree.add(BeamNode(0, 1, "c", 3, 2, -0.9, -1.0, -0.5, KEPT, 1))
    assert tree.departure([1, 2, 2]) == {"step": 2, "node": 2, "reason": "pruned"}
    assert tree.departure([1, 3, 1]) == {"step": 3, "node": 3, "reason": "not expanded"}
    assert tree.departure([1, 3]) is None


def test_early_stopping_modes(tiny):
    kw = dict(k=3, alpha=1.0, max_new=60, eos=["\n"])
    steps = {m: beam_search(tiny.model, tiny.tokenizer, "HAMLET", early_stopping=m, **kw) for m in
             ("true", "heuristic", "never")}
    assert steps["true"].steps <= steps["heuristic"].steps <= steps["never"].steps
    assert steps["never"].best.score >= steps["true"].best.score - 1e-9
    for r in steps.values():
        assert len(r.nbest) == 3


@pytest.mark.parametrize("kw,msg", [(dict(k=0), "beam width"), (dict(early_stopping="maybe"), "early stopping"),
                                    (dict(max_new=-1), "new tokens"), (dict(eos=[""]), "empty"),
                                    (dict(eos=["\u2603"]), "vocabulary"), (dict(n_best=9), "n-best")])
def test_bad_beam_settings(tiny, kw, msg):
    with pytest.raises(UserError, match=msg):
        BeamSearch(tiny.model, tiny.tokenizer, "To", **kw)


def test_zero_new_tokens(tiny):
    r = beam_search(tiny.model, tiny.tokenizer, "To", k=2, max_new=0)
    assert r.best.text == "To" and r.best.score == 0.0 and not math.isnan(r.best.score)
