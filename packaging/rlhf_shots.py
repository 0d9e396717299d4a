"""Render the RLHF screenshots from the real window (offscreen) after a small real run: the Feedback view
(three answers, pairs of the "short" judge, a reward model trained on them, a line scored), the RLHF training
view (a short PPO run watched by the judge) and the Next token view on the tuned model (its bars beside the
start model's). Usage: ``python -m packaging.rlhf_shots docs``."""

from __future__ import annotations

import sys
from pathlib import Path

from packaging.screenshots import show_view, until, wait, window_on

PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks?\n"


def judged_pairs(n: int) -> list:
    """``n`` pairs on the corpus's verse prompts, judged by the "short" judge: two verse lines of the corpus as
    the two continuations (fast: no sampling, which a screenshot does not need)."""
    from engine.rlhf.judges import make_judge
    from engine.rlhf.prefs import Pair
    from engine.rlhf.rollout import verse_prompts

    judge, prompts = make_judge("short"), verse_prompts("shakespeare", "train")
    lines = [p.split("\n")[1] + "\n" for p in prompts[n:3 * n]]
    pairs = []
    for prompt, a, b in zip(prompts[:n], lines[::2], lines[1::2], strict=False):
        good, bad = (a, b) if judge.prefer(prompt, a, b) >= 0 else (b, a)
        pairs.append(Pair(prompt, good, bad, False, "judge:short"))
    return pairs


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    with window_on("feedback") as (app, win, tmp):
        fb = win.views["feedback"]
        fb.max_new, fb.reward_batch, fb.eval_every = 48, 16, 10
        until(app, lambda: fb.samples is not None and fb.settled, timeout=300)
        for b in (fb.a_btn, fb.b_btn, fb.tie_btn):
            b.click()
            until(app, lambda: fb.samples is not None and fb.settled, timeout=300)
        fb.session.add_pairs(judged_pairs(120), win.ctx.model)
        fb.judge.set_name("short")
        fb.reward_steps.setValue(80)
        fb.train_btn.click()
        until(app, lambda: fb.settled and fb.session.reward is not None, timeout=1800)
        fb.line.setText("Ay, my lord.")
        fb.score_line()
        until(app, lambda: fb.settled, timeout=300)
        wait(app, 0.5)
        win.grab().save(str(out / "feedback.png"))

        rv = show_view(app, win, "rlhf")
        rv.parent_folder = str(tmp)
        rv.config_extra = {"prompts": 4, "k": 2, "max_new": 32, "epochs": 2, "minibatch": 8, "every": 3}
        rv.steps.setValue(12)
        rv.lr.setValue(3e-4)
        rv.judge.set_name("short")
        rv.start_btn.click()
        until(app, lambda: rv.settled and rv.folder is not None, timeout=3600)
        wait(app, 0.5)
        win.grab().save(str(out / "rlhf.png"))

        rv.use_btn.click()
        until(app, lambda: win.ctx.model is not None and win.ctx.model.path == str(Path(rv.folder).resolve()),
              timeout=300)
        nt = show_view(app, win, "next-token")
        nt.prompt.setText(PROMPT)
        until(app, lambda: nt.settled and nt.before_after is not None and nt.before_after.rows, timeout=300)
        wait(app, 0.5)
        win.grab().save(str(out / "next-token-rlhf.png"))
        win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
