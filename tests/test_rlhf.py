"""RLHF engine (issue 17): judges, preference files, the reward model, PPO and DPO, the comparison, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.errors import UserError
from engine.events import Finished, Progress, Saved, Snapshot
from engine.rlhf.evaluate import compare_policies
from engine.rlhf.judges import make_judge, metre_fit, rhymes
from engine.rlhf.prefs import Pair, judge_pairs, read_pairs, write_pairs
from engine.rlhf.reward import (
    load_reward_model,
    pair_accuracy,
    save_reward_model,
    split_pairs,
    train_reward_model,
)
from engine.rlhf.rollout import generation_mask, pad_sequences, sample_lines, sequence_logprobs, verse_prompts
from engine.rlhf.train import RlhfConfig, RlhfTrainer, advantages
from tests.test_cli import run_json, txe_here


@pytest.fixture(scope="module")
def start():
    return load_checkpoint(None)


def finished(events):
    return [e for e in events if isinstance(e, Finished)][0]


def short_pairs(n: int = 80) -> list[Pair]:
    """Pairs a "short" judge would give, made from corpus lines without sampling: the shorter line is chosen."""
    prompts = verse_prompts(which="train")
    pairs = []
    for i in range(n):
        p = prompts[i].split("\n")[0] + "\n"  # the speaker only: short sequences, a fast test
        a, b = prompts[i + 1].split("\n")[1], prompts[i + 2].split("\n")[1][:12]
        pairs.append(Pair(p, b + "\n", a + "\n", False, "judge:short") if len(b) < len(a) else
                     Pair(p, a + "\n", b + "\n", False, "judge:short"))
    return pairs


@pytest.fixture(scope="module")
def reward(start):
    torch.manual_seed(0)
    return finished(train_reward_model(start, short_pairs(), steps=30, batch=8, eval_every=0)).result


# --- judges -----------------------------------------------------------------------------------------


def test_judges_score_what_they_say():
    rhyme = make_judge("rhyme")
    assert rhymes("night", "fight") and not rhymes("night", "night") and not rhymes("love", "dog")
    assert rhyme.score("I frown upon him, yet he loves me still.\n", "O that your frowns would teach such skill!") == 1
    assert rhyme.score("the night\n", "a light\n") == 1.0
    assert 0 < rhyme.score("the dog\n", "a smog tale of frog\n") <= 1 and rhyme.score("the dog\n", "a cat\n") == 0
    assert rhyme.prefer("the night\n", "a light", "a cat") == 1 and rhyme.prefer("the night\n", "a cat", "a hat") == 0
    assert metre_fit("The course of true love never did run smooth") == 1.0
    assert metre_fit("But soft, what light through yonder window breaks") == 1.0
    assert metre_fit("Go") < 0.2 and 0 < metre_fit("And then the moon shall rise") < 1
    word = make_judge("word:Love")
    assert word.name == "word:love" and word.score("", "I LOVE thee") == 1.0 and word.score("", "no") == 0
    assert 0 < word.score("", "lovely") < 1 and word.score("", "love, love") > 1
    short = make_judge("short")
    assert short.prefer("", "Ay.\n", "Ay, my lord.\n") == 1 and short.prefer("", "ab", "cd") == 0
    for bad in ("", "nice", "word:", "word:l0ve", "short:x"):
        with pytest.raises(UserError):
            make_judge(bad)


# --- preference files --------------------------------------------------------------------------------


def test_pairs_round_trip_and_bad_files(tmp_path):
    pairs = [Pair("A:\nline\n", "good\n", "bad\n"), Pair("B:\nx\n", "one", "two", True, "judge:short")]
    path = write_pairs(pairs, tmp_path / "p.jsonl")
    assert read_pairs(path) == pairs
    cases = {"empty.jsonl": b"", "binary.jsonl": b"\x00\x01\x02" * 10, "latin1.jsonl": "caf\xe9\n".encode("latin-1"),
             "notjson.jsonl": b'{"prompt": "a", "chosen": "b", "rejected": "c"}\nnot json\n',
             "list.jsonl": b"[1, 2]\n", "missing.jsonl": b'{"prompt": "a", "chosen": "b"}\n',
             "tie.jsonl": b'{"prompt": "a", "chosen": "b", "rejected": "c", "tie": "yes"}\n',
             "blank.jsonl": b"\n\n"}
    expected = {"empty.jsonl": "empty", "binary.jsonl": "binary", "latin1.jsonl": "UTF-8", "notjson.jsonl": "line 2",
                "list.jsonl": "JSON object", "missing.jsonl": "'rejected'", "tie.jsonl": "true or false",
                "blank.jsonl": "no preference pairs"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UserError, match=expected[name]):
            read_pairs(tmp_path / name)
    with pytest.raises(UserError):
        read_pairs(tmp_path / "nowhere.jsonl")


def test_huge_pairs_file_is_refused(tmp_path, monkeypatch):
    import engine.rlhf.prefs as prefs

    monkeypatch.setattr(prefs, "MAX_PAIRS_BYTES", 100)
    path = write_pairs([Pair("p" * 80, "a", "b")] * 3, tmp_path / "big.jsonl")
    with pytest.raises(UserError, match="the limit is"):
        read_pairs(path)


# --- sampling ----------------------------------------------------------------------------------------


def test_sampled_lines_and_their_logprobs(start, one_thread):
    prompts = verse_prompts(which="train")[:3]
    assert not set(prompts) & set(verse_prompts(which="new"))  # new prompts are never trained on
    lines = sample_lines(start.model, start.tokenizer, prompts, k=2, max_new=20,
                         generator=torch.Generator().manual_seed(0))
    assert [x.prompt for x in lines] == [p for p in prompts for _ in range(2)]
    never = set(start.tokenizer.never_generate)
    for x in lines:
        assert 1 <= len(x.ids) <= 20 and not never & set(x.ids) and start.tokenizer.decode(x.ids) == x.text
        assert x.ended == x.text.endswith("\n") and (x.ended or len(x.ids) == 20)
    idx, mask = pad_sequences(lines)
    with torch.no_grad():
        logp, h = sequence_logprobs(start.model, idx, mask, generation_mask(start.tokenizer, 76))
    # what PPO compares: the log-probabilities of sampling and of the training pass are of one distribution
    np.testing.assert_allclose(logp.sum(1).numpy(), [sum(x.logprobs) for x in lines], rtol=1e-4)
    assert h.shape == (*idx.shape, start.model.cfg.d) and int(mask.sum()) == sum(len(x.ids) for x in lines)


def test_judge_pairs_prefer_what_the_judge_prefers(start, one_thread):
    judge = make_judge("short")
    events = list(judge_pairs(start.model, start.tokenizer, judge, verse_prompts(which="train"), 6, batch=4,
                              max_new=24))
    pairs = finished(events).result
    assert len(pairs) == 6 and all(judge.prefer(p.prompt, p.chosen, p.rejected) == 1 for p in pairs)
    assert [e.step for e in events if isinstance(e, Progress)][-1] == 6
    rare = make_judge("word:zyzzyva")  # a word the model never writes: every pair a tie, given up clearly
    with pytest.raises(UserError, match="found a difference in only 0"):
        list(judge_pairs(start.model, start.tokenizer, rare, verse_prompts(which="train"), 2, batch=8, max_new=8))


# --- the reward model ------------------------------------------------------------------------------


def test_reward_model_learns_the_preference_and_round_trips(start, reward, tmp_path, one_thread):
    pairs = short_pairs()
    train, held = split_pairs(pairs)
    assert held and not {p.prompt for p in train} & {p.prompt for p in held}
    assert reward.heldout_accuracy == pair_accuracy(reward, held) and reward.heldout_accuracy >= 0.8
    raw = reward.score_ids([reward.encode(p.prompt, t) for p in train for t in (p.chosen, p.rejected)])
    assert abs(raw.mean()) < 1e-6 and raw.std() == pytest.approx(1.0, rel=1e-4)  # normalised on its training lines
    folder = save_reward_model(reward, tmp_path / "rm")
    again = load_reward_model(folder)
    lines = ["Ay.\n", "My lord, the king is come to see you now.\n"]
    assert again.score("A:\nx\n", lines) == pytest.approx(reward.score("A:\nx\n", lines), abs=1e-5)
    assert again.heldout_accuracy == reward.heldout_accuracy
    with pytest.raises(UserError, match="10 or more"):
        list(train_reward_model(start, pairs[:5]))


def test_corrupt_reward_models_are_refused(reward, tmp_path):
    good = save_reward_model(reward, tmp_path / "rm")
    with pytest.raises(UserError, match="no reward model"):
        load_reward_model(tmp_path / "nowhere")
    with pytest.raises(UserError, match="not a reward model"):
        load_reward_model("assets/default-model")
    cfg = json.loads((good / "config.json").read_text())
    bad = tmp_path / "bad"
    for name, edit in {"scale": lambda c: c | {"scale": 0}, "pooling": lambda c: c | {"pooling": "cls"},
                       "shape": lambda c: c | {"model": {**c["model"], "d": 64}}}.items():
        folder = save_reward_model(reward, bad / name)
        (folder / "config.json").write_text(json.dumps(edit(cfg)))
        with pytest.raises(UserError):
            load_reward_model(folder)
    folder = save_reward_model(reward, bad / "truncated")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(UserError, match="corrupt or truncated"):
        load_reward_model(folder)
    with pytest.raises(UserError, match="not a reward model"):
        save_reward_model(reward, tmp_path / "x.txt") if (tmp_path / "x.txt").write_text("x") else None


# --- PPO and DPO -------------------------------------------------------------------------------------


def test_advantages_are_the_lecture_returns_with_lambda_one():
    rewards = torch.tensor([[0.0, 0.5, -1.0, 2.0, 0.0]])
    values = torch.tensor([[0.0, 0.3, 0.1, -0.2, 0.0]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0]])  # the prompt's position, three tokens, padding
    adv = advantages(rewards, values, mask, lam=1.0)
    future = torch.tensor([[0.0, 1.5, 1.0, 2.0, 0.0]])  # R_t = sum of the rewards from t on
    torch.testing.assert_close(adv + values * mask, future)
    td = advantages(rewards, values, mask, lam=0.0)  # one-step TD errors r_t + V_{t+1} - V_t
    torch.testing.assert_close(td, torch.tensor([[0.0, 0.5 + 0.1 - 0.3, -1.0 - 0.2 - 0.1, 2.0 + 0.2, 0.0]]))


def test_ppo_raises_the_reward_and_saves_a_checkpoint_every_view_opens(start, reward, tmp_path, one_thread):
    from engine.models import open_model

    before = {k: v.clone() for k, v in start.model.state_dict().items()}
    cfg = RlhfConfig(method="ppo", steps=3, prompts=4, k=2, max_new=16, every=2, save_every=2, lr=1e-3,
                     out=str(tmp_path / "tuned"))
    trainer = RlhfTrainer(start, cfg, reward, judge=make_judge("short"))
    events = list(trainer.run())
    progress = [e for e in events if isinstance(e, Progress)]
    assert [e.step for e in progress] == [1, 2, 3]
    for e in progress:
        assert {"reward", "kl", "length", "judge", "policy_loss", "value_loss"} <= set(e.metrics)
        assert all(np.isfinite(v) for v in e.metrics.values())
    assert progress[0].metrics["kl"] == pytest.approx(0.0, abs=1e-4)  # the first batch is sampled from the start
    snaps = [e for e in events if isinstance(e, Snapshot)]
    assert [s.step for s in snaps] == [0, 2, 3] and len(snaps[-1].data.after) == len(snaps[-1].data.before) == 4
    assert snaps[0].data.before == snaps[-1].data.before and all(r is not None for r in snaps[-1].data.reward_after)
    assert [e.step for e in events if isinstance(e, Saved)] == [2, 3]
    result = finished(events).result
    assert result.steps == 3 and result.path == str(tmp_path / "tuned")
    for k, v in start.model.state_dict().items():  # the start model, the reference, is left as it was
        torch.testing.assert_close(v, before[k])
    assert any(not torch.equal(v, before[k]) for k, v in result.policy.state_dict().items())
    loaded = open_model(result.path)
    assert loaded.config["rlhf"]["method"] == "ppo" and loaded.config["rlhf"]["rlhf_steps"] == 3
    assert loaded.config["step"] == start.step + 3
    x = torch.tensor([[0, 5, 9, 12]])
    torch.testing.assert_close(loaded.model(x)[0], result.policy.eval()(x)[0])


def test_ppo_stops_when_asked_and_saves(start, reward, tmp_path, one_thread):
    from engine.tasks import CancelToken

    token = CancelToken()
    cfg = RlhfConfig(steps=50, prompts=2, k=2, max_new=8, out=str(tmp_path / "t"))
    events = []
    for e in RlhfTrainer(start, cfg, reward).run(token):
        events.append(e)
        if isinstance(e, Progress) and e.step == 2:
            token.cancel()
    fin = finished(events)
    assert fin.stopped and fin.result.steps == 2 and (tmp_path / "t" / "model.safetensors").is_file()


def test_dpo_widens_the_margin_of_the_chosen_lines(start, tmp_path, one_thread):
    pairs = short_pairs(8)
    cfg = RlhfConfig(method="dpo", steps=12, dpo_batch=8, lr=1e-3, every=6, prompts=2, k=1, max_new=8)
    events = list(RlhfTrainer(start, cfg, pairs=pairs, judge=make_judge("short")).run())
    progress = [e.metrics for e in events if isinstance(e, Progress)]
    assert progress[0]["margin"] == pytest.approx(0.0, abs=1e-6)  # policy = start: log-ratios are 0
    assert progress[-1]["margin"] > 0.5 and progress[-1]["dpo_loss"] < progress[0]["dpo_loss"]
    assert "kl" in progress[5] and "judge" in progress[5] and "kl" not in progress[1]
    with pytest.raises(UserError, match="DPO needs preference pairs"):
        RlhfTrainer(start, cfg, pairs=[Pair("a", "b", "c", True)])
    with pytest.raises(UserError, match="PPO needs a reward model"):
        RlhfTrainer(start, RlhfConfig(method="ppo"))
    with pytest.raises(UserError, match="method"):
        RlhfTrainer(start, RlhfConfig(method="sft"), pairs=pairs)


def test_a_model_compared_with_itself_draws(start, reward, one_thread):
    m = compare_policies(start.model, start.model, start.tokenizer, reward, make_judge("metre"), n=6, max_new=12)
    assert m["kl"] == pytest.approx(0.0, abs=1e-6) and m["judge_win_rate"] == 0.5 and m["ties"] == 6
    assert m["reward_before"] == pytest.approx(m["reward_after"]) and len(m["examples"]) == 6


# --- the CLI -------------------------------------------------------------------------------------------


def test_cli_preferences_reward_model_ppo_dpo(capsys, tmp_path, one_thread):
    pairs = tmp_path / "pairs.jsonl"
    res = run_json(capsys, "rlhf", "preferences", "--judge", "short", "--pairs", "12", "--max-new", "12",
                   "--out", str(pairs))
    assert res["pairs"] == 12 and len(read_pairs(pairs)) == 12 and res["judge"] == "short"
    rm = tmp_path / "rm"
    res = run_json(capsys, "rlhf", "reward-model", "--pairs", str(pairs), "--steps", "4", "--batch", "4",
                   "--out", str(rm))
    assert 0 <= res["heldout_accuracy"] <= 1 and load_reward_model(rm).heldout_accuracy == res["heldout_accuracy"]
    res = run_json(capsys, "rlhf", "train", "--method", "ppo", "--reward", str(rm), "--judge", "short", "--steps", "2",
                   "--eval-prompts", "2", "--out", str(tmp_path / "ppo"))
    for key in ("reward_before", "reward_after", "kl", "judge_win_rate"):
        assert isinstance(res[key], float)
    assert res["steps"] == 2 and load_checkpoint(tmp_path / "ppo").config["rlhf"]["method"] == "ppo"
    res = run_json(capsys, "rlhf", "train", "--method", "dpo", "--pairs", str(pairs), "--reward", str(rm),
                   "--steps", "2", "--eval-prompts", "2", "--out", str(tmp_path / "dpo"))
    assert res["method"] == "dpo" and isinstance(res["reward_after"], float) and res["kl"] >= -1
    res = run_json(capsys, "rlhf", "score", "--reward", str(rm), "--prompt", "A:\nline", "Ay.", "No, my lord.",
                   "--judge", "short")
    assert [r[0] for r in res["rewards"]] == ["Ay.", "No, my lord."] and res["judge"][0][1] == -3.0


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, reward):
    rm = save_reward_model(reward, tmp_path / "rm")
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b"\x00\xff" * 50)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    cases = [
        (["rlhf", "preferences", "--judge", "nice", "--out", str(tmp_path / "p.jsonl")], "unknown judge"),
        (["rlhf", "preferences", "--judge", "short", "--pairs", "0", "--out", str(tmp_path / "p.jsonl")], "pairs"),
        (["rlhf", "reward-model", "--pairs", str(binary), "--out", str(tmp_path / "r")], "binary"),
        (["rlhf", "reward-model", "--pairs", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "r")], "none.jsonl"),
        (["rlhf", "train", "--method", "ppo", "--out", str(tmp_path / "t")], "needs --reward"),
        (["rlhf", "train", "--method", "dpo", "--out", str(tmp_path / "t")], "needs --pairs"),
        (["rlhf", "train", "--method", "ppo", "--reward", str(rm), "--out", str(tmp_path / "full")],
         "not a checkpoint"),
        (["rlhf", "train", "--method", "ppo", "--reward", "assets/default-model", "--out", str(tmp_path / "t")],
         "not a reward model"),
        (["rlhf", "train", "--method", "ppo", "--reward", str(rm), "--checkpoint", "minilm", "--out",
          str(tmp_path / "t")], "encoder|next token|decoder"),
        (["rlhf", "score", "--reward", str(tmp_path), "--prompt", "x", "y"], "not a reward model|no config"),
    ]
    for argv, message in cases:
        r = txe_here(*argv)
        assert r.returncode == 2, (argv, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert any(m in r.stderr for m in message.split("|")), (argv, r.stderr)
