"""Screenshots of the translation views from the real window (offscreen): the Translation view with the shipped
transformer on a long held-out sentence of the grammar (its alignment, beam tree and n-best list), and the
story view ("RNN vs attention") on the project's own run. Usage: ``python -m packaging.seq2seq_shots docs``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def seq2seq_shots(out: Path, words: int = 26) -> None:
    from packaging.screenshots import show_view, wait, window_on
    from packaging.screenshots import until as until_in

    with window_on("attention") as (app, win, _tmp):
        def until(condition) -> None:  # type: ignore[no-untyped-def]
            until_in(app, condition, timeout=600)

        def show(key: str):  # type: ignore[no-untyped-def]
            return show_view(app, win, key)

        tv = show("translation")
        until(lambda: len(tv.examples) > 1)
        example = min(range(1, len(tv.examples)), key=lambda i: abs(len(tv.examples[i].text.split()) - words))
        before = tv.painted
        tv.example_box.setCurrentIndex(example + 1)
        tv.choose_example(example + 1)
        until(lambda: tv.painted > before and tv.settled)
        wait(app, 1.0)
        win.grab().save(str(out / "translation.png"))

        show("story")
        wait(app, 1.0)
        win.grab().save(str(out / "story.png"))
        win.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    seq2seq_shots(out)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
