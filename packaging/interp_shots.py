"""Render the interpretability lab's screenshots from the real window (offscreen): Ablation (two heads off),
Logit lens, Head scores (an induction run trained in the view until its heads form), Few-shot (SmolLM2,
capitals, k = 4, a few queries measured), Rollout (a row selected, its flow) and Ablation on MiniLM (an
encoder: the sentence embedding). Usage: ``python -m packaging.interp_shots docs [PART ...]`` (parts:
ablation, heads, few-shot, rollout, minilm; all by default)."""

from __future__ import annotations

import sys
from pathlib import Path

from packaging.screenshots import show_view, until, wait, window_on

TEXT = "To be, or not to be: that is the question."


def ablation_and_lens(out: Path) -> None:
    with window_on("ablation") as (app, win, _tmp):
        view = win.views["ablation"]
        view.text.setText(TEXT)
        painted = view.painted
        view.set_off([(2, 1), (3, 0)])
        until(app, lambda: view.painted > painted and view.settled and view.effect is not None, timeout=300)
        wait(app, 0.5)
        win.grab().save(str(out / "ablation.png"))
        lens = show_view(app, win, "logit-lens")
        lens.text.setText(TEXT)
        until(app, lambda: lens.settled, timeout=300)
        wait(app, 0.5)
        win.grab().save(str(out / "logit-lens.png"))
        win.close()


def head_scores(out: Path) -> None:
    with window_on("head-scores") as (app, win, tmp):
        view = win.views["head-scores"]
        view.icl_parent = tmp
        view.train_btn.click()
        until(app, lambda: view.icl_task is None and view.icl_folder is not None, timeout=1800)
        wait(app, 0.5)
        win.grab().save(str(out / "head-scores.png"))
        win.close()


def few_shot(out: Path) -> None:
    with window_on("few-shot") as (app, win, _tmp):
        win.ctx.open_model("smollm2")
        until(app, lambda: win.ctx.model is not None and win.ctx.model.key == "named:smollm2", timeout=300)
        view = win.views["few-shot"]
        view.task.setCurrentText("capitals")
        view.k.setValue(4)
        until(app, lambda: view.settled, timeout=300)
        view.queries.setValue(10)
        view.measure_btn.click()
        until(app, lambda: view.settled and len(view.accuracy) == 5, timeout=1800)
        wait(app, 0.5)
        win.grab().save(str(out / "few-shot.png"))
        win.close()


def rollout(out: Path) -> None:
    with window_on("rollout") as (app, win, _tmp):
        view = win.views["rollout"]
        until(app, lambda: view.settled and view.flow_row is not None, timeout=300)
        view.select(26)
        until(app, lambda: view.settled and view.flow_row is not None, timeout=300)
        wait(app, 0.5)
        win.grab().save(str(out / "rollout.png"))
        win.close()


def minilm_ablation(out: Path) -> None:
    with window_on("ablation") as (app, win, _tmp):
        win.ctx.open_model("minilm")
        until(app, lambda: win.ctx.model is not None and win.ctx.model.key == "named:minilm", timeout=300)
        view = win.views["ablation"]
        view.text.setText("The king is dead. Long live the king, said the queen to her people.")
        view.refresh()
        until(app, lambda: view.settled and view.result is not None, timeout=300)
        view.effect_btn.click()
        until(app, lambda: view.settled and view.effect is not None, timeout=300)
        painted = view.painted
        view.set_off([(5, 3), (5, 9)])
        until(app, lambda: view.painted > painted and view.settled, timeout=300)
        wait(app, 0.5)
        win.grab().save(str(out / "ablation-minilm.png"))
        win.close()


PARTS = {"ablation": ablation_and_lens, "heads": head_scores, "few-shot": few_shot, "rollout": rollout,
         "minilm": minilm_ablation}


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    for name in argv[2:] or list(PARTS):
        PARTS[name](out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
