"""Screenshots of masked language models and fine-tuning from the real window (offscreen): the Fill-the-blank
view on default-mlm with GPT vs BERT at the blank, the Training view after a short masked run is not shown
(its curves look like any run's), the Fine-tuning view's transfer curve, a classified line, and the sentence
similarity page. Usage: ``python -m packaging.mlm_shots docs``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def mlm_shots(out: Path, finetune: bool = True) -> None:
    from packaging.screenshots import show_view, wait, window_on
    from packaging.screenshots import until as until_in

    with window_on("attention") as (app, win, _tmp):
        def until(condition) -> None:  # type: ignore[no-untyped-def]
            until_in(app, condition, timeout=1800)

        def show(key: str):  # type: ignore[no-untyped-def]
            return show_view(app, win, key, timeout=1800)

        fill = show("fill-mask")
        fill.use_btn.click()
        until(lambda: win.ctx.model is not None and win.ctx.model.key == "named:default-mlm")
        until(lambda: fill.settled and fill.filled is not None and fill.comparison is not None)
        wait(app, 1.0)
        win.grab().save(str(out / "fill-mask.png"))

        if not finetune or "fine-tune" not in win.views:
            win.close()
            return
        ft = show("fine-tune")  # on default-mlm, the transfer benchmark's base (docs/benchmarks.md)
        ft.sizes.setText("30, 100, 300, 1000")
        ft.seeds.setValue(2)
        ft.steps.setValue(100)
        ft.start_compare()
        until(lambda: ft.settled and ft.status.text().startswith("Pre-trained"))
        ft.size.setValue(1000)
        ft.start_finetune()
        until(lambda: ft.settled and ft.finetuned is not None and ft.classified is not None)
        wait(app, 1.0)
        win.grab().save(str(out / "fine-tune.png"))
        ft.pages.setCurrentIndex(1)
        ft.compare_sentences()
        until(lambda: ft.settled and ft.sim is not None and ft.nearest)
        wait(app, 1.0)
        win.grab().save(str(out / "similarity.png"))
        win.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    mlm_shots(out, finetune="--no-finetune" not in sys.argv)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
