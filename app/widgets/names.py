"""Every control gets a stable ``objectName`` of the form ``view.control`` (tests and scripts find it by that)
and an accessible name (what a screen reader says), set in one call."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QWidget

W = TypeVar("W", bound=QWidget)


def named(widget: W, object_name: str, accessible: str, tip: str | None = None) -> W:
    """Name ``widget`` ``object_name`` (``view.control``), tell screen readers ``accessible``; returns it."""
    widget.setObjectName(object_name)
    widget.setAccessibleName(accessible)
    if tip is not None:
        widget.setToolTip(tip)
    return widget


def name_controls(owner: object, prefix: str, names: dict[str, tuple[str, str]]) -> None:
    """Name the controls held in ``owner``'s attributes: attribute -> (control name, accessible name); the
    objectName becomes ``prefix.control``."""
    for attr, (control, accessible) in names.items():
        named(getattr(owner, attr), f"{prefix}.{control}", accessible)
