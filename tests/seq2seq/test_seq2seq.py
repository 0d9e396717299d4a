"""The translation engine (engine.seq2seq): grammar, vocabularies, the three families, decoding with
alignments and the beam tree, training, checkpoints, evaluation and bad input."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from engine.errors import UserError
from engine.recurrent import BiRecurrent, GRUCell, LSTMCell, RNNCell
from engine.seq2seq.checkpoint import load_translator, save_translator
from engine.seq2seq.data import BUCKETS, bucket_name, bucket_of, grammar_data, pairs_data, read_parallel
from engine.seq2seq.decode import TranslationSearch, beam, greedy, make_batch, pad
from engine.seq2seq.evaluate import evaluate, exact_match
from engine.seq2seq.grammar import EXAMPLE, Grammar, build_lexicon
from engine.seq2seq.models import build_model
from engine.seq2seq.story import story
from engine.seq2seq.train import TrainPoint, new_translator, train
from engine.seq2seq.vocab import build_vocab, unknown_words, words_of
from engine.tasks import Cancelled, CancelToken
from tests.seq2seq.conftest import TINY, short_pairs

# --- the grammar ------------------------------------------------------------------------------------


def test_the_example_sentence_and_its_translation():
    g = Grammar()
    pair = g.example()
    assert pair.src_text == EXAMPLE == "the old man sees the small dog"
    assert pair.tgt_text == "furui otoko ga chiisai inu wo mi ru"  # SOV: the verb moves to the end
    assert [pair.source[i] if i >= 0 else None for i in pair.align] == \
        ["old", "man", None, "small", "dog", None, "sees", None]
    lex = build_lexicon()
    assert {"old", "small"} <= set(lex.adjs) and {"man", "dog"} <= {n.sg for n in lex.nouns}
    assert "sees" in {v.third for v in lex.trans}


def test_lengths_vocabulary_and_determinism():
    g = Grammar()
    a = [g.sentence(random.Random(5)) for _ in range(3)]
    rng1, rng2 = random.Random(7), random.Random(7)
    first = [g.sentence(rng1) for _ in range(1500)]
    assert first == [g.sentence(rng2) for _ in range(1500)]  # deterministic from the seed
    assert first[:3] != a
    lengths = [len(p.source) for p in first]
    assert min(lengths) >= 3 and max(lengths) <= 50 and sum(n >= 40 for n in lengths) >= 20
    lex = build_lexicon()
    assert len(lex.source_words()) + len(lex.target_words()) >= 2000  # a few thousand word types


def test_one_translation_per_sentence_and_reordering():
    g = Grammar()
    rng = random.Random(3)
    seen: dict[str, str] = {}
    crossing = 0
    pairs = [g.sentence(rng) for _ in range(3000)]
    for p in pairs:
        assert seen.setdefault(p.src_text, p.tgt_text) == p.tgt_text  # the grammar is unambiguous
        assert len(p.align) == len(p.target) and all(-1 <= i < len(p.source) for i in p.align)
        assert p.target[-1] in ("ru", "ta", "nai", "nakatta")  # verb-final
        linked = [i for i in p.align if i >= 0]
        crossing += linked != sorted(linked)
    assert crossing / len(pairs) > 0.9  # alignments are non-monotonic


def test_held_out_sentences_are_never_trained_on():
    data = grammar_data(seed=4, test_per_bucket=15, valid=20)
    counts = {bucket_name(lo, hi): 0 for lo, hi in BUCKETS}
    for p in data.test:
        counts[bucket_of(len(p.source))] += 1
    assert set(counts.values()) == {15}
    held = {p.src_text for p in data.test + data.valid}
    assert len(held) == len(data.test) + len(data.valid)
    stream = data.stream(4)
    assert not any(next(stream).src_text in held for _ in range(3000))
    assert grammar_data(seed=4, test_per_bucket=15, valid=20).test == data.test


# --- parallel text files ------------------------------------------------------------------------------


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"\x00\x01\x02binary\tstuff\n" * 20, "binary"),
    (b"\xff\xfe bad\tbytes\n" * 20, "not UTF-8"),
    (b"a b\tc d\te\n" * 20, "expected 2 tab-separated columns"),
    (b"only one column\n" * 20, "found 1"),
    (b"a b\t \n" * 20, "the target is empty"),
    (b"a b\tc d\n" * 3, "give at least 10"),
])
def test_bad_parallel_files_are_refused_with_one_line(tmp_path, content, message):
    f = tmp_path / "bad.tsv"
    f.write_bytes(content)
    with pytest.raises(UserError, match=message) as e:
        read_parallel(f)
    assert "\n" not in str(e.value)


def test_a_parallel_file_is_read_and_split_by_source(tmp_path):
    f = tmp_path / "p.tsv"
    lines = ["source\ttarget"] + [f"w{i} x{i % 3}\tv{i} y" for i in range(40)] + ["w0 x0\tother"]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = read_parallel(f)
    assert len(pairs) == 41 and pairs[0].source == ("w0", "x0")
    from engine.seq2seq.data import file_data

    data = file_data(f, seed=1)
    train_src = {p.src_text for p in data._train}
    assert not train_src & {p.src_text for p in data.test + data.valid}  # a source never on both sides
    assert len(data._train) + len(data.valid) + len(data.test) == 41
    with pytest.raises(UserError, match="no such file"):
        read_parallel(tmp_path / "missing.tsv")


# --- models ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch, cell", [("rnn", RNNCell), ("gru", GRUCell), ("lstm", LSTMCell)])
def test_the_recurrent_families_use_the_engines_cells(tiny_data, arch, cell):
    tr = new_translator(tiny_data, arch, **TINY[arch])
    assert isinstance(tr.model.encoder[0].cell, cell) and isinstance(tr.model.decoder[0], cell)
    att = new_translator(tiny_data, "rnn-attention", **TINY["rnn-attention"])
    assert isinstance(att.model.encoder[0], BiRecurrent) and isinstance(att.model.decoder[0], GRUCell)
    lstm_att = new_translator(tiny_data, "rnn-attention", cell="lstm", **TINY["rnn-attention"])
    assert isinstance(lstm_att.model.decoder[0], LSTMCell)


@pytest.mark.parametrize("arch", ["gru", "rnn-attention", "transformer"])
def test_each_family_learns_a_tiny_set_by_heart(overfit, tiny_pairs, arch):
    tr = overfit[arch]
    assert exact_match(tr, tiny_pairs) == 1.0
    assert greedy(tr, EXAMPLE).text == "furui otoko ga chiisai inu wo mi ru"


@pytest.mark.parametrize("arch", ["gru", "rnn-attention", "transformer"])
def test_greedy_is_beam_search_of_width_one(overfit, tiny_pairs, arch):
    tr = overfit[arch]
    for p in tiny_pairs[:3] + [short_pairs(9, seed=8)[-1]]:  # known and unknown sentences
        g = greedy(tr, p.src_text)
        b = beam(tr, p.src_text, k=1, alpha=0.0).translations()[0]
        assert b.ids == g.ids
        assert b.logprob == pytest.approx(g.logprob, abs=1e-4)


@pytest.mark.parametrize("arch, layers_heads", [("gru", None), ("rnn-attention", (1, 1)), ("transformer", (1, 2))])
def test_alignments_have_one_row_per_target_step_summing_to_one(overfit, tiny_pairs, arch, layers_heads):
    tr = overfit[arch]
    t = greedy(tr, EXAMPLE)
    if layers_heads is None:
        assert t.alignment is None and t.alignment_dict()["weights"] is None
        return
    S, T = len(EXAMPLE.split()), len(t.ids)
    assert t.alignment.shape == (T, *layers_heads, S)
    np.testing.assert_allclose(t.alignment.sum(-1), 1.0, atol=1e-5)
    d = t.alignment_dict()
    assert d["source"] == EXAMPLE.split() and d["target"] == t.target + ["<eos>"]
    assert np.array(d["weights"]).shape == (T, S)
    # teacher forcing: (B, L, H, T, S), padded source words get no attention
    b = make_batch(tr, tiny_pairs)
    _, align = tr.model(b.src, b.src_mask, b.tgt_in, capture=True)
    assert align.shape == (len(tiny_pairs), *layers_heads, b.tgt_in.shape[1], b.src.shape[1])
    assert torch.all(align.masked_select(~b.src_mask[:, None, None, None, :]) == 0)
    torch.testing.assert_close(align.sum(-1), torch.ones(align.shape[:-1]))


def test_the_beam_tree_carries_each_hypothesis_alignment(overfit):
    tr = overfit["rnn-attention"]
    search = TranslationSearch(tr, EXAMPLE, k=3, alpha=1.0)
    search.run()
    nbest = search.translations()
    assert len(nbest) == 3 and nbest[0].text == "furui otoko ga chiisai inu wo mi ru"
    assert nbest[0].score >= nbest[1].score >= nbest[2].score
    for t in nbest:
        path = search.tree.path(t.node)[1:]
        assert t.alignment.shape == (len(path), 1, 1, len(EXAMPLE.split()))
        assert [search.tree[i].token_id for i in path] == t.ids
    assert all(n.id in search.alignments for n in search.tree.nodes[1:])  # every candidate, pruned ones too
    state = search.state()  # what the beam-tree widget draws
    assert state.done and state.nodes[0]["parent"] is None and state.greedy_text == nbest[0].text
    json.dumps(search.tree.to_list())
    search.force(next(n.id for n in search.tree.nodes if n.status == "pruned" and not n.end))
    search.run()
    assert search.translations()


# --- input checks -----------------------------------------------------------------------------------


def test_unknown_words_are_reported_not_fatal(overfit):
    t = greedy(overfit["transformer"], "the old zebra sees the small dog")
    assert t.unknown == ["zebra"] and t.target  # translated anyway, with <unk> for the unknown word
    vocab = build_vocab(["the", "old", "man"], lowercase=True)  # the grammar's vocabularies lowercase
    assert words_of(vocab, "The OLD  man\tzebra") == ["the", "old", "man", "zebra"]
    assert unknown_words(vocab, words_of(vocab, "The OLD man zebra Zebra")) == ["zebra"]


def test_too_long_or_empty_text_is_a_clear_error(overfit):
    tr = overfit["transformer"]
    limit = tr.model.cfg.max_source
    with pytest.raises(UserError, match=f"at most {limit}"):
        greedy(tr, " ".join(["dog"] * (limit + 1)))
    with pytest.raises(UserError, match="empty"):
        greedy(tr, "   ")


# --- training, checkpoints --------------------------------------------------------------------------


def test_training_reports_snapshots_autosaves_and_stops_on_cancel(tiny_data, tmp_path):
    token = CancelToken()
    points: list[TrainPoint] = []

    def sink(p: TrainPoint) -> None:
        points.append(p)
        if p.kind == "step" and p.step == 7:
            token.cancel()

    token.sink = sink
    out = tmp_path / "run"
    with pytest.raises(Cancelled):
        train(tiny_data, "gru", steps=20, batch=6, evals=4, out=out, token=token, **TINY["gru"])
    steps = [p for p in points if p.kind == "step"]
    evals = [p for p in points if p.kind == "eval"]
    assert [p.step for p in steps] == list(range(1, 8)) and all(p.loss > 0 for p in steps)
    assert [p.step for p in evals] == [5] and evals[0].exact_match is not None
    assert all(b.seconds >= a.seconds for a, b in zip(points, points[1:], strict=False))
    saved = load_translator(out)  # what the cancelled run had
    assert saved.info["steps"] == 7 and saved.arch == "gru"
    with pytest.raises(UserError, match="either a number of steps or a number of minutes"):
        train(tiny_data, "gru", steps=5, minutes=1.0)


def test_checkpoint_round_trip_and_atomic_replacement(overfit, tmp_path, monkeypatch):
    tr = overfit["transformer"]
    out = tmp_path / "ck"
    save_translator(tr, out)
    back = load_translator(out)
    assert back.model.cfg == tr.model.cfg and back.data == tr.data
    assert greedy(back, EXAMPLE).ids == greedy(tr, EXAMPLE).ids
    for (k, a), b in zip(tr.model.state_dict().items(), back.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    import engine.seq2seq.checkpoint as ck

    def broken(*args, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck, "save_file", broken)
    other = overfit["gru"]
    with pytest.raises(UserError, match="No space left on device"):
        save_translator(other, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the old checkpoint, whole
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]  # no temporary folder left behind


def test_corrupt_or_mismatched_checkpoints_are_one_line_errors(overfit, tmp_path):
    good = tmp_path / "good"
    save_translator(overfit["rnn-attention"], good)

    def variant(name: str, change) -> str:
        import shutil

        dest = tmp_path / name
        shutil.copytree(good, dest)
        change(dest)
        with pytest.raises(UserError) as e:
            load_translator(dest)
        assert "\n" not in str(e.value)
        return str(e.value)

    def truncate(d):
        data = (d / "model.safetensors").read_bytes()
        (d / "model.safetensors").write_bytes(data[: len(data) // 2])

    def edit(**changes):
        def do(d):
            cfg = json.loads((d / "config.json").read_text())
            cfg["model"].update(changes)
            (d / "config.json").write_text(json.dumps(cfg))
        return do

    assert "corrupt or truncated" in variant("trunc", truncate)
    assert "not valid JSON" in variant("json", lambda d: (d / "config.json").write_text("{oops"))
    assert "does not match" in variant("wide", edit(hidden=64))
    assert "different runs" in variant("vocab", edit(src_vocab=99))
    assert "must be one of" in variant("arch", edit(arch="cnn"))
    assert "version" in variant("version", lambda d: (d / "config.json").write_text(
        json.dumps({**json.loads((d / "config.json").read_text()), "version": 99})))
    assert "not a valid vocabulary" in variant("vocabfile", lambda d: (d / "target.json").write_text("[]"))
    with pytest.raises(UserError, match="no seq2seq checkpoint"):
        load_translator(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a seq2seq checkpoint"):
        load_translator(tmp_path / "empty")


# --- evaluation and the story -----------------------------------------------------------------------


def test_evaluation_by_length_bucket_and_bleu(overfit, tiny_pairs):
    ev = evaluate(overfit["transformer"], tiny_pairs)
    assert ev.exact_match_by_length == {"3-8": 1.0} and ev.counts == {"3-8": 6}
    assert ev.bleu == pytest.approx(100.0) and ev.mistakes == []
    wrong = [type(p)(p.source, ("nothing",) + p.target[1:], p.align) for p in tiny_pairs[:2]]
    ev2 = evaluate(overfit["transformer"], wrong + tiny_pairs[2:])
    assert ev2.exact_match == pytest.approx(4 / 6) and ev2.bleu < 100.0 and len(ev2.mistakes) == 2


def test_the_story_trains_each_family_for_the_same_time(tiny_pairs):
    data = pairs_data(tiny_pairs, tiny_pairs[:2], tiny_pairs)
    events = []
    token = CancelToken()
    token.sink = events.append
    s = story(data, minutes=0.01, archs=("gru", "transformer"), evals=2, token=token, batch=6,
              emb=16, hidden=16, d=16, heads=2, layers=1, ff=32)
    assert list(s.families) == ["gru", "transformer"]
    for fam in s.families.values():
        assert 0.6 <= fam.seconds <= 10.0 and fam.steps >= 1 and set(fam.exact_match_by_length) == {"3-8"}
    kinds = [(e.kind, e.arch) for e in events]
    assert kinds[-1] == ("result", "transformer") and ("result", "gru") in kinds
    assert any(e.kind == "train" and e.point.kind == "eval" for e in events)
    raw = json.loads(json.dumps(s.to_dict()))
    assert type(s).from_dict(raw).families["gru"].counts == {"3-8": 6}


def test_shipped_story_result_is_readable():
    from pathlib import Path

    from engine.seq2seq.story import Story

    path = Path(__file__).resolve().parents[2] / "assets" / "seq2seq-story.json"
    s = Story.from_dict(json.loads(path.read_text(encoding="utf-8")))
    assert set(s.families) == {"gru", "rnn-attention", "transformer"} and s.minutes > 0
    for fam in s.families.values():
        assert set(fam.exact_match_by_length) == set(s.buckets)


def test_models_build_for_every_arch(tiny_data):
    for arch in ("rnn", "gru", "lstm", "rnn-attention", "transformer"):
        tr = new_translator(tiny_data, arch, **TINY[arch])
        src, mask = pad([[4, 5, 6], [7, 8]])
        logits, _ = tr.model(src, mask, torch.tensor([[1, 4], [1, 5]]))
        assert logits.shape == (2, 2, tr.model.cfg.tgt_vocab)
        assert build_model(tr.model.cfg).num_parameters() == tr.model.num_parameters()


def test_cpu_clock_stories_run_apart_and_merge_into_one(tiny_pairs):
    """bench.seq2seq runs the families side by side on the cpu clock and merges them; a bad clock is refused."""
    from bench.seq2seq import merge, verdict

    data = pairs_data(tiny_pairs, tiny_pairs[:2], tiny_pairs)
    tiny = dict(batch=6, evals=0, emb=16, hidden=16, d=16, heads=2, layers=1, ff=32)
    parts = [story(data, minutes=0.005, archs=(arch,), clock="cpu", **tiny) for arch in ("transformer", "gru")]
    assert all(p.clock == "cpu" and type(p).from_dict(p.to_dict()).clock == "cpu" for p in parts)
    assert all(0.3 <= fam.seconds for p in parts for fam in p.families.values())  # CPU seconds trained
    whole = merge(parts)
    assert list(whole.families) == ["gru", "transformer"] and whole.clock == "cpu"
    assert verdict(whole)[-1].startswith("<= 8 words above 90% for all")
    other = story(data, minutes=0.005, archs=("gru",), clock="wall", **tiny)
    with pytest.raises(SystemExit, match="differ"):
        merge([parts[0], other])
    with pytest.raises(UserError, match="clock must be one of"):
        train(data, "gru", steps=1, clock="gpu", **TINY["gru"])
