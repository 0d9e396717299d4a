"""Render Help > About and a page of Help > Tour from the real window (offscreen):
``python -m packaging.help_shots docs`` writes docs/about.png and docs/tour.png."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(out: Path) -> int:
    from packaging.screenshots import wait, window_on

    with window_on("attention") as (app, win, _tmp):
        about = win.show_about()
        wait(app, 0.5)
        about.grab().save(str(out / "about.png"))
        about.close()
        tour = win.show_tour()
        tour.go(1)  # the Training page: what to try first is a run
        wait(app, 0.5)
        tour.grab().save(str(out / "tour.png"))
        tour.close()
        win.tabs.setCurrentIndex(0)
        win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))
