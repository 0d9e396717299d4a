"""Skip-gram: the exact objective (Eq. 11.3/11.4), the full-softmax and negative-sampling trainers."""

import math

import numpy as np
import pytest

from engine.embeddings.vocab import Vocab, tokenize
from engine.embeddings.word2vec import (
    SkipGram,
    Word2VecConfig,
    keep_probabilities,
    make_pairs,
    prepare,
    skipgram_objective,
)
from engine.errors import UserError
from engine.events import Evaluation, Finished, Paused, Progress, Snapshot
from engine.tasks import CancelToken

W_IN = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
W_OUT = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])


def hand_objective() -> float:
    """Eq. 11.3 for w = (0, 1, 2), c = 1, by hand. Scores u_o^T v_c:
    centre 0 -> (1, 0, 0), centre 1 -> (0, 1, 0), centre 2 -> (1, 1, 0). Pairs: 0->1, 1->0, 1->2, 2->1.
    p(1|0) = p(0|1) = p(2|1) = 1/(e+2), p(1|2) = e/(2e+1); J = -(1/T) sum log p with T = 3."""
    e = math.e
    return -(3 * math.log(1 / (e + 2)) + math.log(e / (2 * e + 1))) / 3


def test_tokenize_lowercases_and_keeps_inner_apostrophes():
    assert tokenize("O'er the King's head, 'tis LOV'D -- well_done 42") == [
        "o'er", "the", "king's", "head", "tis", "lov'd", "well", "done", "42"]


def test_vocab_min_count_order_and_errors():
    v = Vocab.build("b a b c b a".split(), min_count=2)
    assert v.words == ["b", "a"] and v.counts.tolist() == [3, 2]
    assert v.encode("a c b".split()).tolist() == [1, 0]
    with pytest.raises(UserError, match="no word occurs"):
        Vocab.build(["x", "y"], min_count=2)


def test_objective_matches_hand_computation():
    assert skipgram_objective(W_IN, W_OUT, np.array([0, 1, 2]), window=1) == pytest.approx(hand_objective())


def test_full_softmax_first_epoch_loss_is_the_objective_per_pair():
    vocab = Vocab(["a", "b", "c"], np.array([1, 1, 1]))
    cfg = Word2VecConfig(dim=2, window=1, epochs=1, min_count=1, negative=0, sample=0, lr=1e-9, min_lr=0,
                         batch=64, dynamic_window=False)
    model = SkipGram(vocab, np.array([0, 1, 2]), cfg, init=(W_IN, W_OUT))
    events = list(model.run())
    # one batch holds all 4 pairs, so the epoch loss is the loss before any update: J * T / pairs
    assert model.pairs_per_epoch == [4]
    assert model.loss_per_epoch[0] == pytest.approx(hand_objective() * 3 / 4, rel=1e-6)
    assert model.eval_loss_per_epoch[0] == pytest.approx(hand_objective() * 3 / 4, rel=1e-6)  # lr ~ 0
    assert isinstance(events[-1], Finished) and events[-1].summary["loss_per_epoch"] == model.loss_per_epoch


def test_full_softmax_training_decreases_the_objective():
    rng = np.random.default_rng(0)
    ids = np.concatenate([rng.permutation(6) for _ in range(60)])  # 6 words, a fixed local structure
    ids = np.where(ids % 2 == 0, ids, (ids + 2) % 6)
    vocab = Vocab([f"w{i}" for i in range(6)], np.bincount(ids, minlength=6))
    cfg = Word2VecConfig(dim=8, window=2, epochs=8, min_count=1, negative=0, sample=0, lr=0.1, batch=16,
                         dynamic_window=False)
    model = SkipGram(vocab, ids, cfg)
    before = skipgram_objective(model.w_in.numpy(), model.w_out.numpy(), ids, 2)
    list(model.run())
    after = skipgram_objective(model.w_in.numpy(), model.w_out.numpy(), ids, 2)
    losses = model.loss_per_epoch
    assert len(losses) == 8 and losses[-1] < losses[0]
    evals = model.eval_loss_per_epoch
    assert all(b < a for a, b in zip(evals, evals[1:], strict=False))
    assert after < before - 0.1
    # with a fixed window and no subsampling, loss per pair relates to J exactly: J = loss * pairs / T
    assert before == pytest.approx(math.log(6) * model.pairs_per_epoch[0] / len(ids), rel=1e-6)


def topic_corpus(seed: int = 0, blocks: int = 400) -> str:
    """Two topics of 8 words; text alternates blocks of 12 words drawn from one topic."""
    rng = np.random.default_rng(seed)
    topics = [[f"fruit{i}" for i in range(8)], [f"metal{i}" for i in range(8)]]
    words = []
    for b in range(blocks):
        words += list(rng.choice(topics[b % 2], 12))
    return " ".join(words)


def test_negative_sampling_puts_co_occurring_words_together():
    cfg = Word2VecConfig(dim=16, window=3, epochs=4, min_count=1, negative=5, sample=0, batch=64, seed=3)
    vocab, ids = prepare(topic_corpus(), cfg)
    model = SkipGram(vocab, ids, cfg)
    list(model.run())
    vec = model.vectors()
    unit = vec.unit
    fruit = [vec.index[f"fruit{i}"] for i in range(8)]
    metal = [vec.index[f"metal{i}"] for i in range(8)]
    sims = unit @ unit.T
    within = (sims[np.ix_(fruit, fruit)].sum() - 8 + sims[np.ix_(metal, metal)].sum() - 8) / (2 * 56)
    across = sims[np.ix_(fruit, metal)].mean()
    assert within > across + 0.3
    assert model.loss_per_epoch[-1] < model.loss_per_epoch[0]


def test_events_snapshots_pause_and_cancel():
    cfg = Word2VecConfig(dim=8, window=2, epochs=3, min_count=1, sample=0, batch=32, snapshot_every=10,
                         snapshot_words=5, progress_every=5)
    vocab, ids = prepare(topic_corpus(blocks=100), cfg)
    token = CancelToken()
    events = []
    for event in SkipGram(vocab, ids, cfg).run(token):
        events.append(event)
        if isinstance(event, Progress) and event.step == 20:
            token.pause()
            token.resume()  # the generator checks the flag at the next batch; resumed at once here
        if isinstance(event, Evaluation) and event.metrics["epoch"] == 1:
            token.cancel()
    snaps = [e for e in events if isinstance(e, Snapshot)]
    assert snaps[0].step == 0 and snaps[0].data.vectors.shape == (5, 8) and snaps[0].keep_all
    assert any(isinstance(e, Progress) for e in events)
    assert sum(isinstance(e, Evaluation) for e in events) == 1
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.stopped and finished.summary["epochs"] == 1
    assert not any(isinstance(e, Paused) for e in events)  # resumed before the next check


def test_same_seed_same_vectors():
    cfg = Word2VecConfig(dim=8, window=2, epochs=1, min_count=1, batch=32)
    vocab, ids = prepare(topic_corpus(blocks=40), cfg)
    a, b = SkipGram(vocab, ids, cfg), SkipGram(vocab, ids, cfg)
    list(a.run())
    list(b.run())
    np.testing.assert_array_equal(a.w_in.numpy(), b.w_in.numpy())


def test_pairs_and_subsampling():
    rng = np.random.default_rng(0)
    pairs = make_pairs(np.array([0, 1, 2, 3]), 2, rng, dynamic=False)
    assert sorted(map(tuple, pairs.tolist())) == sorted(
        [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (0, 2), (2, 0), (1, 3), (3, 1)])
    dyn = make_pairs(np.arange(1000), 5, rng, dynamic=True)
    assert 0.5 * 2 * 1000 * 3 < len(dyn) < 1.1 * 2 * 1000 * 3  # mean window (1+5)/2 = 3 on each side
    keep = keep_probabilities(np.array([1000, 10, 1]), 1e-2)
    assert keep[0] < 1 and keep[1] == 1 and keep[2] == 1


def test_bad_settings():
    with pytest.raises(UserError, match="window"):
        Word2VecConfig(window=0).validate()
    vocab = Vocab([f"w{i}" for i in range(30_000)], np.ones(30_000, dtype=np.int64))
    with pytest.raises(UserError, match="full softmax"):
        SkipGram(vocab, np.arange(10), Word2VecConfig(negative=0, min_count=1))
