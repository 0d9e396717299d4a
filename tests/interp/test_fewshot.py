"""engine.interp.fewshot on the default model (it scores about 0, but every part runs) and the tasks' data."""

from __future__ import annotations

import numpy as np
import pytest

from engine.decoding.cache import Decoder
from engine.errors import UserError
from engine.interp.fewshot import Judge, PromptBuilder, few_shot, load_task, parse_ks, task_names


def test_tasks_are_shipped_with_enough_items():
    names = task_names()
    assert {"antonyms", "capitals", "uppercase", "copy", "plurals", "past_tense"} <= set(names)
    for name in names:
        t = load_task(name)
        assert len(t.items) >= 60 and len({x for x, _ in t.items}) == len(t.items)
    assert load_task("uppercase").case_sensitive and not load_task("capitals").case_sensitive
    with pytest.raises(UserError, match="unknown few-shot task 'nope'"):
        load_task("nope")


def test_prompts_nest_and_spans_cover_the_examples(default):
    task = load_task("antonyms")
    b = PromptBuilder(default, task, seed=3)
    q = int(b.order[0])
    p2, p4 = b.prompt(q, 2), b.prompt(q, 4)
    assert p4.examples[:2] == p2.examples and task.items[q] not in p4.examples
    tok = default.tokenizer
    for (s, e), (x, y) in zip(p4.spans, p4.examples, strict=True):
        assert tok.decode(p4.ids[s:e]) == tok.decode(tok.encode(f"{x} -> {y}\n").ids)  # '>': unknown here
    assert p4.ids[0] == tok.bos_id and tok.decode(p4.ids[1:]) == tok.decode(tok.encode(p4.text).ids)
    assert tok.decode(p4.answer) == " " + p4.expected


def test_judge_agrees_with_plain_greedy_decoding(default, one_thread):
    task = load_task("plurals")
    b = PromptBuilder(default, task)
    prompts = [b.prompt(int(q), 3) for q in b.order[:4]]
    results = Judge(default, task).judge(prompts)
    for p, r in zip(prompts, results, strict=True):
        dec = Decoder(default.model, [], len(p.ids))
        logits, gen = dec.prefill([p.ids]), []
        for _ in range(len(p.answer) + 8):
            gen.append(int(logits[0].argmax()))
            logits = dec.step([gen[-1]])
        line = default.tokenizer.decode(gen).split("\n")[0].strip()
        assert line.startswith(r.output) and r.correct == (task.normal(line) == task.normal(p.expected))


def test_few_shot_runs_on_a_model_trained_here(default, one_thread):
    r = few_shot(default, load_task("copy"), [0, 2], queries=6)
    assert set(r.accuracy_by_k) == {0, 2} and all(0 <= a <= 1 for a in r.accuracy_by_k.values())
    a = r.attention[2]
    assert a.from_answer.shape == (4, 2) == a.from_prompt_end.shape and a.query_from_answer.shape == (4,)
    assert (a.from_answer.sum(1) + a.query_from_answer <= 1 + 1e-5).all() and (a.from_answer >= 0).all()
    assert r.attention[0].from_answer.shape == (4, 0)
    d = r.to_dict()
    assert set(d["accuracy_by_k"]) == {"0", "2"} and "Ab" not in d
    with pytest.raises(UserError, match="context is 256"):
        few_shot(default, load_task("capitals"), [40], queries=2)


def test_parse_ks():
    assert parse_ks("0,1, 2,8") == [0, 1, 2, 8]
    for bad in ("", "1,,2", "a", "-1", "1,1"):
        with pytest.raises(UserError):
            parse_ks(bad)
    assert np.isclose(len(load_task("copy").items), 70)
