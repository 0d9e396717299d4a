"""``transformer-explorer`` (also ``python -m app``): the desktop app.

``--screenshot FILE.png [--view attention|training|tokens|next-token] [--text TEXT]`` opens the real
window on the default model, waits until the view is painted, saves a PNG of the whole window, exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="transformer-explorer", description="See how transformers work inside.")
    ap.add_argument("--checkpoint", default=None, help="checkpoint folder (default: the embedded model)")
    ap.add_argument("--screenshot", metavar="FILE.png", help="save a PNG of the window and exit")
    from app.window import all_view_keys

    ap.add_argument("--view", default="attention", choices=["heads", *all_view_keys()],
                    help="heads: the attention view's head view")
    ap.add_argument("--text", default=None, help="text for the attention / tokens / next-token view")
    ap.add_argument("--size", default="1400x860", help="window size for --screenshot, WxH")
    return ap.parse_args(argv)


def configure_torch() -> None:
    """Import torch before the QApplication exists (pytorch #11326) and keep a core for the GUI."""
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    configure_torch()
    args = parse_args(argv)
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Transformer Explorer")
    settings = QSettings("TransformerExplorer", "TransformerExplorer")
    if args.screenshot:  # a screenshot is reproducible: no remembered layout
        settings = QSettings(os.path.join(os.path.dirname(os.path.abspath(args.screenshot)), ".txe-shot.ini"),
                             QSettings.Format.IniFormat)
        settings.clear()
    win = MainWindow(args.checkpoint, settings)
    if args.view == "heads":
        win.attention.mode_heads.setChecked(True)
        args.view = "attention"
    win.tabs.setCurrentIndex(win.view_index(args.view))
    if args.text:
        {"attention": win.attention.set_text, "tokens": win.tokens.input.setPlainText,
         "next-token": win.next_token.prompt.setText}.get(args.view, lambda _: None)(args.text)
    if args.screenshot:
        w, h = (int(x) for x in args.size.split("x"))
        win.resize(w, h)
    win.show()

    if args.screenshot:
        start = time.perf_counter()
        baseline = dict(win.painted)

        def ready() -> bool:
            if win.last_error:
                return True
            if args.view == "training":
                return win.session.model is not None
            return win.painted[args.view] > baseline.get(args.view, 0) or win.painted[args.view] > 0

        def poll() -> None:
            if ready():
                QTimer.singleShot(300, shoot)  # let the last paint land
            elif time.perf_counter() - start > 60:
                print("transformer-explorer: the view was not painted within 60 s", file=sys.stderr)
                app.exit(1)
            else:
                QTimer.singleShot(50, poll)

        def shoot() -> None:
            app.processEvents()
            ok = win.grab().save(args.screenshot)
            print(f"cold start to painted window: {time.perf_counter() - t0:.2f} s", file=sys.stderr)
            win.close()  # saves the layout into the throw-away settings file: remove it after
            settings.sync()
            if os.path.exists(settings.fileName()):
                os.remove(settings.fileName())
            app.exit(0 if ok else 1)

        QTimer.singleShot(50, poll)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
