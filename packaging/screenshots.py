"""Render the README's screenshots from the real window (offscreen): every view on the default model,
and the Training and Attention views during a live run. Usage: ``python -m packaging.screenshots docs``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHOTS = [
    ("attention", "attention", "To be, or not to be: that is the question."),
    ("heads", "attention-heads", "To be, or not to be: that is the question."),
    ("tokens", "tokens", None),
    ("next-token", "next-token", "To be, or not to be: that is the qu"),
    ("decoding", "decoding", None),
    ("embeddings", "embeddings-tokens", None),
]


def static_shots(out: Path) -> None:
    for view, name, text in SHOTS:
        cmd = [sys.executable, "-m", "app", "--screenshot", str(out / f"{name}.png"), "--view", view]
        if text:
            cmd += ["--text", text]
        subprocess.run(cmd, check=True, env=os.environ)


def live_training_shots(out: Path, steps: int = 600) -> None:
    from app.main import configure_torch

    configure_torch()
    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        win = MainWindow(None, QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat))
        win.resize(1400, 860)
        win.show()
        tv = win.training
        tv.steps.setValue(2000)
        tv.snapshot_every.setValue(25)
        tv.out.setText(os.path.join(tmp, "run"))
        win.tabs.setCurrentIndex(1)
        tv.start_btn.click()
        while len(tv.loss_y) < steps:
            app.processEvents()
            time.sleep(0.01)
        tv.pause_btn.click()
        t0 = time.time()
        while time.time() - t0 < 1.0:
            app.processEvents()
        win.grab().save(str(out / "training.png"))
        win.tabs.setCurrentIndex(0)
        win.attention.follow_box.setChecked(True)
        t0 = time.time()
        while time.time() - t0 < 1.0:
            app.processEvents()
        win.grab().save(str(out / "attention-live.png"))
        win.bridge.stop()
        while win.bridge.busy:
            app.processEvents()
        win.close()


def wait(app, seconds: float) -> None:
    t0 = time.time()
    while time.time() - t0 < seconds:
        app.processEvents()
        time.sleep(0.01)


def sampling_shot(out: Path) -> None:
    """The Decoding view's sampling panel after a run with temperature, top-k and top-p."""
    from app.main import configure_torch

    configure_torch()
    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        win = MainWindow(None, QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat))
        win.resize(1400, 860)
        win.show()
        view = win.views["decoding"]
        win.tabs.setCurrentIndex(win.view_index("decoding"))
        while win.painted["decoding"] == 0:
            app.processEvents()
        view.tabs.setCurrentIndex(1)
        p = view.sampling
        p.temperature.setValue(0.8)
        p.top_k.setValue(12)
        p.top_p.setValue(0.9)
        p.n.setValue(5)
        seen = win.painted["decoding"]
        p.run.click()
        while win.painted["decoding"] == seen:
            app.processEvents()
        wait(app, 0.5)
        win.grab().save(str(out / "decoding-sampling.png"))
        win.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    out.mkdir(parents=True, exist_ok=True)
    static_shots(out)
    sampling_shot(out)
    live_training_shots(out)
    from packaging.embedding_shots import embedding_shots

    embedding_shots(out)
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
