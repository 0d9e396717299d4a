"""``transformer-explorer`` (also ``python -m app``): the desktop app.

``--model NAME|FOLDER|FILE.gguf`` opens the window on that model (the default model one click away).
``--screenshot FILE.png [--view KEY] [--text TEXT]`` opens the real window (on the default model), waits until
the view has drawn what it was asked for, saves a PNG of the whole window and exits 0.
:func:`build` makes the QApplication and the main window without entering the event loop, so that tests and
scripts can drive the real app.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

SHOT_TIMEOUT_S = 120
APP_ID = "io.github.txe.TransformerExplorer"  # the .desktop file's and the AppStream metainfo's id


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from app.version import app_version
    from app.window import all_view_keys

    ap = argparse.ArgumentParser(prog="transformer-explorer", description="See how transformers work inside.")
    ap.add_argument("--model", "--checkpoint", dest="checkpoint", default=None,
                    help="the model to open: default, smollm2, minilm, a checkpoint or Hugging Face folder, or a "
                         ".gguf file (default: the embedded model)")
    ap.add_argument("--screenshot", metavar="FILE.png", help="save a PNG of the window and exit")
    ap.add_argument("--view", default="attention", choices=["heads", *all_view_keys()],
                    help="heads: the attention view's head view")
    ap.add_argument("--text", default=None, help="text for the attention / tokens / next-token / decoding view")
    ap.add_argument("--size", default="1400x860", help="window size for --screenshot, WxH")
    ap.add_argument("--follow", metavar="FOLDER", default=None,
                    help="watch the run another process trains in FOLDER (txe train --out FOLDER, torchrun, a "
                         "cluster's shared folder) in the Training view")
    tour = ap.add_mutually_exclusive_group()
    tour.add_argument("--tour", dest="tour", action="store_true", default=None,
                      help="open the tour of the views at start (default: on the first run only)")
    tour.add_argument("--no-tour", dest="tour", action="store_false", help="do not open the tour at start")
    ap.add_argument("--version", action="version", version=f"%(prog)s {app_version()}",
                    help="print the version and exit (no display needed)")
    ap.add_argument("--about", action="store_true",
                    help="print Help > About (versions and model files) and exit (no display needed)")
    return ap.parse_args(argv)


def configure_torch() -> None:
    """Import torch before the QApplication exists (pytorch #11326) and keep a core for the GUI."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


def build(argv: list[str] | None = None) -> tuple[Any, Any]:
    """The QApplication and the main window (shown), without entering the event loop."""
    configure_torch()
    args = parse_args(argv)
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from app.about import ICON
    from app.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Transformer Explorer")
    app.setDesktopFileName(APP_ID)  # Wayland matches the window to the installed .desktop file by it
    app.setWindowIcon(QIcon(str(ICON)))
    settings = QSettings("TransformerExplorer", "TransformerExplorer")
    if args.screenshot:  # a screenshot is reproducible: no remembered layout
        settings = QSettings(os.path.join(os.path.dirname(os.path.abspath(args.screenshot)), ".txe-shot.ini"),
                             QSettings.Format.IniFormat)
        settings.clear()
    win = MainWindow(args.checkpoint, settings)
    win.args = args
    if args.view == "heads":
        win.attention.mode_heads.setChecked(True)
        args.view = "attention"
    win.tabs.setCurrentIndex(win.view_index(args.view))
    if args.text:
        setters = {"attention": win.attention.set_text, "tokens": win.tokens.input.setPlainText,
                   "next-token": win.next_token.prompt.setText,
                   "decoding": win.views["decoding"].prompt.setText,  # type: ignore[attr-defined]
                   "translation": win.views["translation"].text.setText}  # type: ignore[attr-defined]
        setters.get(args.view, lambda _t: None)(args.text)
    if args.follow:
        win.follow(args.follow)
    if args.screenshot:
        w, h = (int(x) for x in args.size.split("x"))
        win.resize(w, h)
    win.show()
    from app.tour import tour_at_start

    if not args.screenshot and tour_at_start(settings, args.tour):
        QTimer.singleShot(0, win.show_tour)  # once the window is up: the tour pages through its tabs
    return app, win


def shown(win: Any, key: str) -> bool:
    """The view has drawn what it was asked for: a model, its picture (or its error) and nothing pending."""
    view = win.views[key]
    if win.ctx.model is None:
        return bool(win.last_error)
    if view.header.error_text:
        return not view.busy
    if key == "training":
        return True
    return view.painted > 0 and view.settled and win.bridge.idle()


def take_screenshot(app: Any, win: Any, path: str, t0: float) -> None:
    from PySide6.QtCore import QTimer

    start = time.perf_counter()
    key = win.args.view

    def poll() -> None:
        if shown(win, key):
            QTimer.singleShot(300, shoot)  # let the last paint land
        elif time.perf_counter() - start > SHOT_TIMEOUT_S:
            print(f"transformer-explorer: the {key} view was not painted within {SHOT_TIMEOUT_S} s", file=sys.stderr)
            app.exit(1)
        else:
            QTimer.singleShot(50, poll)

    def shoot() -> None:
        if not shown(win, key):  # something changed in the last 300 ms: wait again
            QTimer.singleShot(50, poll)
            return
        app.processEvents()
        ok = win.grab().save(path)
        model = win.ctx.model.source if win.ctx.model is not None else "none"  # "default": the embedded model
        print(f"cold start to painted window: {time.perf_counter() - t0:.2f} s (model: {model})", file=sys.stderr)
        win.close()  # saves the layout, so the throw-away settings file goes after it
        win.settings.sync()
        if os.path.exists(win.settings.fileName()):
            os.remove(win.settings.fileName())
        app.exit(0 if ok else 1)

    QTimer.singleShot(50, poll)


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except KeyboardInterrupt:  # Ctrl-C while starting up (importing torch, say): one line, no traceback
        print("transformer-explorer: interrupted", file=sys.stderr)
        return 130


def run(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    args = sys.argv[1:] if argv is None else argv
    if "--version" in args:  # answered without a display, torch or Qt
        from app.version import app_version

        print(f"transformer-explorer {app_version()}")
        return 0
    if "--about" in args:  # Help > About as text, for a bug report or a bundle's check
        configure_torch()
        from app.about import about_text

        print(about_text())
        return 0
    from app.display import check_qt_platform

    problem = check_qt_platform()
    if problem:
        print(f"transformer-explorer: {problem}", file=sys.stderr)
        return 2
    app, win = build(argv)
    # Ctrl-C, SIGTERM and SIGHUP close the window without asking: a running task is stopped and saves what it
    # has (the bridge's 20 Hz timer lets Python see the signal while Qt's loop runs)
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, lambda *_: win.quit_now())
    if win.args.screenshot:
        take_screenshot(app, win, win.args.screenshot, t0)
    code = app.exec()
    if not win.closed:  # the loop ended without the window closing (a failed screenshot, say)
        win.engine_stopped = win.bridge.shutdown()
    if not win.engine_stopped:
        # a long engine call is still running: leave without it. Python's own exit would stop that thread
        # inside torch's C++ code, and the C++ runtime would abort the process (SIGABRT).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
