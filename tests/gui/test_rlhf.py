"""RLHF with the user as the human (issue 17) in the real window: the Feedback view records the user's pairs
and a judge's, saves and opens them, trains a reward model and scores a line; the RLHF training view runs PPO
and DPO for a few steps (curves, before/after lines, the saved folder, "Use this model"); the Next token view
shows the tuned model's bars beside its start model's. Budgets are tiny: the point is the wiring."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt

from tests.gui.conftest import show

MAX_NEW = 8


def feedback(window, qtbot):
    fb = window.views["feedback"]
    fb.max_new, fb.judge_batch, fb.reward_batch, fb.eval_every = MAX_NEW, 4, 8, 2
    fb = show(window, qtbot, "feedback")
    qtbot.waitUntil(lambda: fb.samples is not None and fb.settled, timeout=60_000)
    return fb


def pairs_file(path: Path, n: int = 20) -> Path:
    """``n`` pairs on distinct verse prompts: a short line preferred to a long one."""
    from engine.rlhf.prefs import Pair, write_pairs
    from engine.rlhf.rollout import verse_prompts

    prompts = verse_prompts("shakespeare", "train")[:n]
    write_pairs([Pair(p, "Ay, my lord.\n", "And then the king did speak to all the lords of France and Spain.\n",
                      source="judge:short") for p in prompts], path)
    return path


def train_reward(fb, qtbot, tmp_path) -> None:
    fb.open_pairs(str(pairs_file(tmp_path / "short.jsonl")))
    qtbot.waitUntil(lambda: len(fb.session.pairs) == 20 and fb.settled, timeout=30_000)
    fb.reward_steps.setValue(4)
    qtbot.mouseClick(fb.train_btn, Qt.MouseButton.LeftButton)
    assert fb.task is not None, fb.header.error_text
    qtbot.waitUntil(lambda: fb.settled and fb.session.reward is not None, timeout=120_000)


def test_feedback_pairs_files_and_reward_model(window, qtbot, tmp_path):
    fb = feedback(window, qtbot)
    s = fb.session
    assert fb.prompt.toPlainText().endswith("\n") and ":" in fb.prompt.toPlainText()
    # the user's answers: A, then B, then a tie; each draws the next pair
    a, b = fb.samples
    prompt = fb.prompt.toPlainText()
    qtbot.mouseClick(fb.a_btn, Qt.MouseButton.LeftButton)
    assert (s.pairs[-1].prompt, s.pairs[-1].chosen, s.pairs[-1].rejected, s.pairs[-1].tie) == (prompt, a, b, False)
    qtbot.waitUntil(lambda: fb.samples is not None and fb.settled, timeout=60_000)
    a, b = fb.samples
    qtbot.mouseClick(fb.b_btn, Qt.MouseButton.LeftButton)
    assert (s.pairs[-1].chosen, s.pairs[-1].rejected, s.pairs[-1].tie) == (b, a, False)
    qtbot.waitUntil(lambda: fb.samples is not None and fb.settled, timeout=60_000)
    qtbot.mouseClick(fb.tie_btn, Qt.MouseButton.LeftButton)
    assert s.pairs[-1].tie and len(s.pairs) == 3 and {p.source for p in s.pairs} == {"user"}
    assert "3 pairs (3 by you, 1 tie)" in fb.count.text()
    qtbot.waitUntil(lambda: fb.samples is not None and fb.settled, timeout=60_000)
    # a judge's pairs, as a task
    fb.judge.set_name("short")
    fb.n_pairs.setValue(4)
    qtbot.mouseClick(fb.judge_btn, Qt.MouseButton.LeftButton)
    assert fb.task is not None and not fb.judge_btn.isEnabled()
    qtbot.waitUntil(lambda: fb.settled and len(s.pairs) == 7, timeout=120_000)
    judged = s.pairs[3:]
    assert {p.source for p in judged} == {"judge:short"}
    assert all(len(p.chosen.strip()) < len(p.rejected.strip()) for p in judged)
    assert "4 by short" in fb.count.text() and "7 pairs" in fb.header.source_text()
    # too few pairs for a reward model: a clear message, nothing started
    qtbot.mouseClick(fb.train_btn, Qt.MouseButton.LeftButton)
    assert "too few" in fb.header.error_text and fb.task is None
    # save and open again: the same pairs
    saved = tmp_path / "pairs.jsonl"
    fb.save_pairs(str(saved))
    qtbot.waitUntil(lambda: saved.exists() and fb.settled, timeout=10_000)
    before = [p.to_dict() for p in s.pairs]
    fb.open_pairs(str(saved))
    qtbot.waitUntil(lambda: fb.settled and "opened 7 pairs" in fb.header.message.text(), timeout=10_000)
    assert [p.to_dict() for p in s.pairs] == before
    assert [json.loads(line) for line in saved.read_text(encoding="utf-8").splitlines()] == before
    # a binary file, then an empty one: one line in the header, the pairs kept
    for name, data in (("bad.jsonl", b"\x00\x01\x02binary"), ("empty.jsonl", b"")):
        bad = tmp_path / name
        bad.write_bytes(data)
        fb.open_pairs(str(bad))
        qtbot.waitUntil(lambda: fb.settled and bool(fb.header.error_text), timeout=10_000)
        assert name in fb.header.error_text and "\n" not in fb.header.error_text
        assert [p.to_dict() for p in s.pairs] == before
    # the reward model: live loss, held-out accuracy, and the score box
    train_reward(fb, qtbot, tmp_path)
    assert fb.reward_curve.points("loss") == 4 and fb.reward_curve.points("heldout_accuracy") >= 1
    assert "held-out accuracy" in fb.reward_status.text() and s.reward_accuracy is not None
    assert not fb.header.error_text
    fb.line.setText("Ay.")
    fb.score_line()
    qtbot.waitUntil(lambda: fb.settled and "reward" in fb.score.text() and "judge short" in fb.score.text(),
                    timeout=20_000)
    short = fb.score_text
    fb.line.setText("And then the king did speak to all the lords of France and Spain, and more.")
    fb.score_line()
    qtbot.waitUntil(lambda: fb.settled and fb.score_text != short, timeout=20_000)
    assert "judge short: <b>-" in fb.score_text
    # the RLHF training view watches the judge whose pairs the reward model learned, until one is picked there
    rv = show(window, qtbot, "rlhf")
    assert rv.judge.name() == "short"


def test_rlhf_ppo_dpo_and_next_token_before_after(window, qtbot, tmp_path):
    rv = show(window, qtbot, "rlhf")
    assert rv.judge.name() == ""  # no judge has made pairs yet: none is watched
    rv.parent_folder = str(tmp_path / "runs")
    rv.config_extra = {"prompts": 2, "k": 2, "max_new": MAX_NEW, "epochs": 1, "minibatch": 4, "every": 1,
                       "dpo_batch": 4}
    rv.steps.setValue(2)
    # PPO without a reward model: a message pointing to the Feedback view
    qtbot.mouseClick(rv.start_btn, Qt.MouseButton.LeftButton)
    assert "PPO needs a reward model" in rv.header.error_text and "Feedback view" in rv.header.error_text
    assert rv.task is None
    fb = feedback(window, qtbot)
    train_reward(fb, qtbot, tmp_path)
    rv = show(window, qtbot, "rlhf")
    assert "reward model" in rv.needs.text() and "held-out accuracy" in rv.needs.text()
    # PPO, watched by the short judge
    rv.judge.set_name("short")
    qtbot.mouseClick(rv.start_btn, Qt.MouseButton.LeftButton)
    assert rv.task is not None, rv.header.error_text
    assert not rv.start_btn.isEnabled() and rv.stop_btn.isEnabled()
    # one task at a time: the Feedback view's judge says what is running
    fb.n_pairs.setValue(2)
    fb.add_judge_pairs()
    assert "RLHF training is running" in fb.header.error_text and fb.task is None
    qtbot.waitUntil(lambda: rv.settled, timeout=180_000)
    assert not rv.header.error_text
    for key in ("reward", "kl", "length", "judge"):
        assert rv.curves.points(key) == 2, key
    assert rv.table.rowCount() == 4 and rv.watch is not None and rv.watch.step == 2
    for r in range(4):
        assert rv.table.item(r, 1).text() and rv.table.item(r, 3).text()
        assert rv.table.item(r, 2).text().startswith(("+", "-")) and rv.table.item(r, 4).text().startswith(("+", "-"))
    folder = Path(rv.folder)
    assert folder.parent == tmp_path / "runs" and folder.name == "rlhf-1"
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["rlhf"]["method"] == "ppo" and config["rlhf"]["rlhf_steps"] == 2
    assert rv.use_btn.isVisible() and "saved in" in rv.status.text()
    qtbot.mouseClick(rv.use_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.ctx.model.path == str(folder.resolve()), timeout=30_000)
    # the pairs and the reward model belong to the default model: the header says so on the tuned one
    qtbot.waitUntil(lambda: "rlhf-1" in rv.header.source_text(), timeout=10_000)
    assert "the pairs were made from default model" in rv.header.source_text()
    assert "the reward model was made from default model" in rv.header.source_text()
    # the Next token view: the tuned model's bars beside the start model's
    nt = show(window, qtbot, "next-token")
    qtbot.waitUntil(lambda: nt.settled and nt.before_after is not None, timeout=30_000)
    assert nt.before_after.start == "default model" and len(nt.before_after.rows) >= 15
    assert nt.compare.isVisible() and "before (start model: default model)" in nt.compare.text()
    assert "after (tuned" in nt.compare.text()
    widths = nt.before_item.opts["width"]
    assert len(widths) == len(nt.top_tokens) and abs(sum(widths) - 1.0) < 1e-6
    assert any(abs(a - b) > 0 for _, a, b in nt.before_after.rows)  # the distribution moved
    # DPO from the pairs, starting from the tuned model: a long run paused, resumed and stopped (what it has is
    # saved)
    rv = show(window, qtbot, "rlhf")
    rv.method.setCurrentIndex(rv.method.findData("dpo"))
    assert "DPO uses the 20 pairs" in rv.needs.text()
    rv.steps.setValue(500)
    qtbot.mouseClick(rv.start_btn, Qt.MouseButton.LeftButton)
    assert rv.task is not None, rv.header.error_text
    qtbot.waitUntil(lambda: rv.progress.value() >= 1, timeout=60_000)
    qtbot.mouseClick(rv.pause_btn, Qt.MouseButton.LeftButton)
    assert rv.task.state == "paused" and rv.resume_btn.isEnabled() and not rv.pause_btn.isEnabled()
    qtbot.mouseClick(rv.resume_btn, Qt.MouseButton.LeftButton)
    assert rv.task.state == "running" and rv.pause_btn.isEnabled()
    qtbot.mouseClick(rv.stop_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: rv.settled, timeout=120_000)
    assert not rv.header.error_text and rv.table.rowCount() == 4 and "stopped after" in rv.status.text()
    assert rv.curves.points("kl") >= 1 and rv.curves.points("reward") == 0  # DPO without a reward model
    folder = Path(rv.folder)
    assert folder.name == "rlhf-2" and (folder / "model.safetensors").exists()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["rlhf"]["method"] == "dpo" and 1 <= config["rlhf"]["rlhf_steps"] < 500
    # back on the default model: the Next token view has one bar a token again
    window.ctx.use_default()
    nt = show(window, qtbot, "next-token")
    qtbot.waitUntil(lambda: nt.settled and nt.before_after is None and not nt.compare.isVisible(), timeout=30_000)
    assert len(nt.before_item.opts["width"]) == 0
