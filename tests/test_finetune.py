"""Fine-tuning (engine.finetune, engine.labelled, engine.transfer): data, splits, training, saving, explaining."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.errors import UserError
from engine.finetune import (
    Classifier,
    classify,
    finetune,
    load_finetuned,
    predict_proba,
    save_finetuned,
)
from engine.labelled import GENRE_NAMES, genre_dataset, pretraining_val_plays, read_tsv, split_by_group, subsample
from engine.tasks import CancelToken
from engine.transfer import steps_for, transfer_curve
from tests.finetune_helpers import easy_task, tiny_base, write_tsv


@pytest.fixture(scope="module")
def genre():
    return genre_dataset()


def test_genre_dataset_has_three_genres_and_plays(genre) -> None:
    assert genre.label_names == GENRE_NAMES
    assert all(c > 1000 for c in genre.counts())
    assert len(set(genre.groups)) == 8 + 11 + 6 + 4  # comedies, histories, tragedies, Roman plays
    assert "the-tempest" not in set(genre.groups)  # romances are left out
    assert all(40 <= len(t) <= 400 for t in genre.texts)


def test_play_split_has_no_play_on_both_sides(genre) -> None:
    for seed in (0, 1):
        train, val = split_by_group(genre, 0.2, seed)
        assert not set(train.groups) & set(val.groups)
        assert all(c > 0 for c in val.counts()) and all(c > 0 for c in train.counts())
        assert 0.1 < len(val) / len(genre) < 0.35
    train, val = split_by_group(genre, val_groups=pretraining_val_plays())
    assert set(val.groups) == set(pretraining_val_plays()) and not set(train.groups) & set(val.groups)
    assert all(c > 0 for c in val.counts())


def test_subsample_is_balanced_and_deterministic(genre) -> None:
    sub = subsample(genre, 99, seed=3)
    assert sub.counts() == [33, 33, 33]
    assert subsample(genre, 99, seed=3).texts == sub.texts
    assert subsample(genre, 99, seed=4).texts != sub.texts


def test_read_tsv_with_and_without_header(tmp_path) -> None:
    ds = easy_task(10)
    for header in (True, False):
        got = read_tsv(write_tsv(tmp_path / f"d{header}.tsv", ds, header))
        assert got.texts == ds.texts and got.labels == ds.labels and got.label_names == ["a", "b"]


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"abc\x00\x01\tz\n", "binary"),
    (b"hello\tpos\nworld\tneg\textra\n", "line 2"),
    (b"hello\n", "line 1"),
    (b"hello\tpos\nworld\tpos\n", "only one label"),
    (b"\xff\xfe\tpos\n", "not UTF-8"),
])
def test_read_tsv_errors_are_one_line(tmp_path, content, message) -> None:
    p = tmp_path / "bad.tsv"
    p.write_bytes(content)
    with pytest.raises(UserError, match=message) as e:
        read_tsv(p)
    assert "\n" not in str(e.value)


def test_read_tsv_refuses_a_huge_file(tmp_path) -> None:
    p = tmp_path / "huge.tsv"
    with open(p, "wb") as f:
        f.truncate(65 * 2**20)  # sparse: no disk used
    with pytest.raises(UserError, match="limit is 64"):
        read_tsv(p)


def test_finetuned_tiny_classifier_beats_chance_and_round_trips(tmp_path) -> None:
    torch.set_num_threads(1)
    base = tiny_base()
    train, val = split_by_group(easy_task(160), 0.25, 0)
    events = []
    token = CancelToken()
    token.sink = events.append
    ft = finetune(base, train, val, steps=60, lr=3e-3, batch=16, seed=0, eval_every=30, token=token)
    assert ft.accuracy is not None and ft.accuracy >= 0.8  # chance is 0.5
    assert [e[:2] for e in events if e[0] == "eval"] == [("eval", 30), ("eval", 60)]
    assert sum(e[0] == "step" for e in events) == 60
    assert events[-1] == ("eval", 60, ft.accuracy)
    save_finetuned(ft, tmp_path / "clf")
    again = load_finetuned(tmp_path / "clf")
    assert again.label_names == ["a", "b"] and again.model.pooling == ft.model.pooling
    seqs = [base.tokenizer.wrap(base.tokenizer.encode(t).ids) for t in val.texts]
    np.testing.assert_allclose(predict_proba(again.model, again.tokenizer, seqs),
                               predict_proba(ft.model, ft.tokenizer, seqs), atol=1e-6)
    save_finetuned(ft, tmp_path / "clf")  # over an earlier copy
    assert load_finetuned(tmp_path / "clf").accuracy == pytest.approx(ft.accuracy)


def test_scratch_reinitialises_and_pretrained_starts_from_the_base() -> None:
    base = tiny_base(seed=5)
    train = easy_task(20)
    w = base.model.blocks[0].attn.W_qkv.weight
    pre = finetune(base, train, steps=1, lr=1e-9, seed=1, pretrained=True)
    scratch = finetune(base, train, steps=1, lr=1e-9, seed=1, pretrained=False)
    assert torch.allclose(pre.model.body.blocks[0].attn.W_qkv.weight, w, atol=1e-6)
    assert not torch.allclose(scratch.model.body.blocks[0].attn.W_qkv.weight, w, atol=1e-3)
    assert scratch.model.body.cfg == base.model.cfg  # the same architecture
    assert torch.equal(base.model.blocks[0].attn.W_qkv.weight, w)  # the base itself is untouched


def test_pooling_choices_and_padding() -> None:
    base = tiny_base(causal=False)
    for pooling in ("mean", "last", "cls"):
        model = Classifier(base.model, 3, pooling).eval()
        ids = base.tokenizer.wrap(base.tokenizer.encode("abx").ids)
        one = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
        padded = torch.tensor([ids + [0, 0, 0]])
        mask = torch.tensor([[1] * len(ids) + [0, 0, 0]])
        assert torch.allclose(model(padded, mask), one, atol=1e-5)  # padding changes nothing
    with pytest.raises(UserError, match="pooling"):
        Classifier(base.model, 2, "max")


def test_classify_gives_one_importance_per_token() -> None:
    base = tiny_base()
    ft = finetune(base, easy_task(40), steps=20, lr=3e-3)
    text = "axaxa bxb " * 5  # longer than the context (24): cut
    c = classify(ft, text)
    assert len(c.importance) == len(c.tokens) == 24 - 1  # the context minus <|bos|>
    assert "".join(c.tokens) == text[:23]
    assert abs(sum(c.probs) - 1) < 1e-6 and c.label in ("a", "b")
    d = c.to_dict()
    assert set(d) == {"label", "probs", "importance"} and len(d["importance"]) == 23
    with pytest.raises(UserError):
        classify(ft, "")


def test_load_finetuned_refuses_bad_folders(tmp_path) -> None:
    ft = finetune(tiny_base(), easy_task(20), steps=2)
    good = save_finetuned(ft, tmp_path / "good")
    with pytest.raises(UserError, match="no fine-tuned classifier"):
        load_finetuned(tmp_path / "missing")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UserError, match="corrupt"):
        load_finetuned(bad)
    (bad / "config.json").write_text(json.dumps({"format": "txe-checkpoint", "version": 1}), encoding="utf-8")
    with pytest.raises(UserError, match="not a fine-tuned classifier"):
        load_finetuned(bad)
    config = json.loads((good / "config.json").read_text(encoding="utf-8"))
    config["model"]["d"] = 32
    (good / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(UserError, match="does not match"):
        load_finetuned(good)
    good2 = save_finetuned(ft, tmp_path / "good2")
    (good2 / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(UserError, match="corrupt"):
        load_finetuned(good2)
    with pytest.raises(UserError, match="not a fine-tuned classifier"):
        save_finetuned(ft, bad)  # a folder with something else in it


def test_transfer_curve_reports_every_point() -> None:
    points = []
    token = CancelToken()
    token.sink = points.append
    tr = transfer_curve(tiny_base(), easy_task(200), sizes=(10, 40), seeds=(0, 1), steps=4, token=token)
    assert tr.sizes == [10, 40] and [len(r) for r in tr.pretrained] == [2, 2] and [len(r) for r in tr.scratch] == [2, 2]
    assert len(points) == 8 and {p[3] for p in points} == {"pretrained", "scratch"}
    assert points[0][:4] == ("point", 10, 0, "pretrained")
    assert tr.pretrained_mean()[0] == pytest.approx(np.mean(tr.pretrained[0]))
    assert tr.gap()[1] == pytest.approx(tr.pretrained_mean()[1] - tr.scratch_mean()[1])
    assert all(0 <= a <= 1 for row in tr.pretrained + tr.scratch for a in row)


def test_transfer_budget_grows_with_the_size() -> None:
    # the larger sizes get enough steps for `epochs` passes, the small ones keep the minimum
    assert steps_for(30, 100, 4.0, 16) == 100
    assert steps_for(1000, 100, 4.0, 16) == 250
    assert steps_for(3000, 100, 4.0, 16) == 750
    assert steps_for(3000, 100, 0.0, 16) == 100
