"""Questions the app asks before it does something that cannot be undone."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_reuse(parent: QWidget, name: str, title: str, text: str, resume_label: str) -> str:
    """A folder that already holds a run: "resume", "overwrite", "new" or "cancel". The box is
    ``name``-question and its buttons ``name``-resume / -overwrite / -new (tests and scripts click them)."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Cancel, parent)
    box.setObjectName(f"{name}-question")
    buttons = {"resume": box.addButton(resume_label, QMessageBox.ButtonRole.AcceptRole),
               "overwrite": box.addButton("Replace it", QMessageBox.ButtonRole.DestructiveRole),
               "new": box.addButton("New folder", QMessageBox.ButtonRole.AcceptRole)}
    for key, b in buttons.items():
        b.setObjectName(f"{name}-{key}")
        b.setAccessibleName({"resume": resume_label, "overwrite": "Replace it", "new": "New folder"}[key])
    box.setDefaultButton(buttons["new"])
    box.exec()
    clicked = box.clickedButton()
    return next((k for k, b in buttons.items() if b is clicked), "cancel")
