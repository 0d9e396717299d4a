"""Every control of the real window by its objectName, as the Markdown list that docs/architecture.md keeps:
``python -m packaging.control_names`` prints it, ``--write`` puts it into docs/architecture.md."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

BEGIN, END = "<!-- control names: begin -->", "<!-- control names: end -->"


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.main import build
    from tests.gui.test_foundation import controls_of

    app, win = build([])
    for key in win.views:  # every view builds its controls when first shown
        win.tabs.setCurrentIndex(win.view_index(key))
        end = time.monotonic() + 30
        while win.views[key].painted == 0 and key != "training" and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)
    win.show_about()  # the Help menu's dialogs are the window's children while open
    win.show_tour()
    by_view: dict[str, set[str]] = {}
    for w in controls_of(win):
        view, _, _ = w.objectName().partition(".")
        by_view.setdefault(view, set()).add(w.objectName())
    lines = [f"- **{view}**: " + ", ".join(f"`{name}`" for name in sorted(by_view[view])) for view in sorted(by_view)]
    win.close()
    QApplication.processEvents()
    if "--write" in sys.argv:
        doc = Path(__file__).resolve().parent.parent / "docs" / "architecture.md"
        text = doc.read_text(encoding="utf-8")
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        doc.write_text(f"{head}{BEGIN}\n" + "\n".join(lines) + f"\n{END}{tail}", encoding="utf-8")
    else:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
