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
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout, QWidget

from app.version import app_version, package_version
from app.widgets.names import named

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


def model_files() -> list[tuple[str, str]]:
    """One line per model the app offers by name: its title, then its package version and file, or why not."""
    from engine.models.registry import NAMED

    rows = []
    for name, entry in NAMED.items():
        path = entry.path()
        if path is None:
            rows.append((name, f"{entry.title}: not installed ({entry.install_hint()})"))
            continue
        parts = [entry.title]
        if entry.package:
            parts.append(f"{entry.package} {package_version(entry.package) or '(version unknown)'}")
        weights = weights_file(path)
        parts.append(f"{weights.name}: {describe_file(weights)}" if weights else path.name)
        rows.append((name, "; ".join(parts)))
    return rows


def about_text() -> str:
    """Everything the dialog shows, as plain text."""
    lines = [f"{k}: {v}" for k, v in runtime_versions()]
    lines += ["", "Models:"] + [f"  {k}: {v}" for k, v in model_files()]
    return "\n".join(lines)


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><td style='padding-right:12px'><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return f"<table cellspacing='2'>{cells}</table>"


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
            "<h2>Transformer Explorer</h2><p>See how small language models and game-playing agents work "
            "inside.</p>" + _table(runtime_versions()) + "<h3>Model files</h3>" + _table(model_files()))
        self.copy_btn = named(QPushButton("Copy"), "about.copy", "Copy these versions",
                              "Copy the versions and model files as text (for a bug report)")
        self.copy_btn.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.text))
        buttons = named(QDialogButtonBox(QDialogButtonBox.StandardButton.Close), "about.buttons", "Close")
        buttons.addButton(self.copy_btn, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        self.close_btn = buttons.button(QDialogButtonBox.StandardButton.Close)
        named(self.close_btn, "about.close", "Close")
        layout = QVBoxLayout(self)
        layout.addWidget(self.info)
        layout.addWidget(buttons)
        self.resize(720, self.sizeHint().height())
